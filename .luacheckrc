std = "lua54"
max_line_length = 110
files["spec/"] = { std = "+busted" }
-- generated from the AWS API models (tools/gen_models.py)
exclude_files = { "lua/aws/models/*.lua" }
