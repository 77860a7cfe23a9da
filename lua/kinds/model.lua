-- Model (sagemaker.aws.amazon.com/v1) -> a SageMaker model. The contract
-- this module keeps is "Kind scripts" in lua/README.md; what it shares with
-- EndpointConfig (create once, re-create on a spec change, delete with the
-- object) is kinds.lib.hosting.
--
-- The spec has no field naming the model (the old API had none), so the
-- name is generated: metadata.name + "-" + the UID, in
-- status.sageMakerModelName.
local hosting = require("kinds.lib.hosting")

return hosting.static({
  kind = "Model",
  plural = "models",
  noun = "model",
  name_status = "sageMakerModelName",
  arn_status = "modelArn",
  api = { create = "CreateModel", describe = "DescribeModel", delete = "DeleteModel",
    name = "ModelName", arn = "ModelArn" },
})
