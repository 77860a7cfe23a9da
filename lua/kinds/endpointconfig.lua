-- EndpointConfig (sagemaker.aws.amazon.com/v1) -> a SageMaker endpoint
-- configuration. The contract this module keeps is "Kind scripts" in
-- lua/README.md; what it shares with Model (create once, re-create on a
-- spec change, delete with the object) is kinds.lib.hosting.
--
-- productionVariants[].modelName are SageMaker model names (a Model
-- object's status.sageMakerModelName). A model that does not exist yet is
-- waited for (Reconciling, retried with backoff): a Model applied together
-- with its EndpointConfig is usually created a moment later.
local hosting = require("kinds.lib.hosting")

local function create_error(err)
  if type(err) == "table" and err.code == "ValidationException"
      and tostring(err.message):find("Could not find model", 1, true) then
    return { code = "ModelNotFound", retryable = true,
      message = tostring(err.message) .. " (waiting for it: productionVariants[].modelName must "
        .. "name an existing SageMaker model, such as a Model's status.sageMakerModelName)" }
  end
  return err
end

return hosting.static({
  kind = "EndpointConfig",
  plural = "endpointconfigs",
  noun = "endpoint config",
  name_status = "sageMakerEndpointConfigName",
  arn_status = "endpointConfigArn",
  api = { create = "CreateEndpointConfig", describe = "DescribeEndpointConfig",
    delete = "DeleteEndpointConfig", name = "EndpointConfigName", arn = "EndpointConfigArn" },
  create_error = create_error,
})
