-- OpenAPI v3 schemas of the built-in kinds the fake serves and of the
-- apimachinery types every document refers to, keyed by their
-- components.schemas name. Enough for `kubectl explain` and for kubectl's
-- strategic merge patches (the x-kubernetes-patch-* and list-type marks
-- are those of Kubernetes 1.32); descriptions are the API reference's,
-- shortened where they run long.
local json = require("smop.json")
local texts = require("fake.kube.openapi_texts")

local A = json.array

local function ref(name, description)
  local r = { ["$ref"] = "#/components/schemas/" .. name }
  if not description then return r end
  return { description = description, default = json.object({}), allOf = A({ r }) }
end

local function str(description, extra)
  local s = { type = "string", description = description, default = extra and extra.default }
  if extra then
    for k, v in pairs(extra) do s[k] = v end
  end
  return s
end

local function int(description, format)
  return { type = "integer", format = format or "int32", description = description }
end

local function bool(description)
  return { type = "boolean", description = description }
end

local function list(items, description, extra)
  local s = { type = "array", items = items, description = description }
  for k, v in pairs(extra or {}) do s[k] = v end
  return s
end

local function map(values, description)
  return { type = "object", additionalProperties = values, description = description }
end

local function object(description, properties, required, extra)
  local s = { type = "object", description = description, properties = properties,
    required = required and A(required) or nil }
  for k, v in pairs(extra or {}) do s[k] = v end
  return s
end

local function gvk(group, version, kind)
  return A({ { group = group, kind = kind, version = version } })
end

-- A top-level kind: apiVersion, kind, metadata, then its own fields.
local function kind_schema(description, group, version, kind, fields, required)
  local props = {
    apiVersion = str(texts._apiVersion),
    kind = str(texts._kind),
    metadata = ref("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", texts._metadata),
  }
  for k, v in pairs(fields) do props[k] = v end
  return object(description, props, required,
    { ["x-kubernetes-group-version-kind"] = gvk(group, version, kind) })
end

local function list_schema(description, group, version, kind, item)
  return object(description, {
    apiVersion = str(texts._apiVersion),
    items = list(ref(item), "List of " .. kind:gsub("List$", ""):lower() .. "s."),
    kind = str(texts._kind),
    metadata = ref("io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta", texts._listMetadata),
  }, { "items" }, { ["x-kubernetes-group-version-kind"] = gvk(group, version, kind) })
end

local META = "io.k8s.apimachinery.pkg.apis.meta.v1."
local CORE = "io.k8s.api.core.v1."
local COORD = "io.k8s.api.coordination.v1."
local EVENTS = "io.k8s.api.events.v1."
local APIEXT = "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1."

local string_map = { type = "string", default = "" }

local S = {}

-- ---- apimachinery ----

S[META .. "Time"] = { type = "string", format = "date-time",
  description = "Time is a wrapper around time.Time which supports correct marshaling to YAML and JSON." }
S[META .. "MicroTime"] = { type = "string", format = "date-time",
  description = "MicroTime is version of Time with microsecond level precision." }
S[META .. "FieldsV1"] = { type = "object", description = "FieldsV1 stores a set of fields in a data "
  .. "structure like a Trie, in JSON format." }
S[META .. "Patch"] = { type = "object", description = "Patch is provided to give a concrete name and "
  .. "type to the Kubernetes PATCH request body." }
S[META .. "ObjectMeta"] = object("ObjectMeta is metadata that all persisted resources must have, which "
  .. "includes all objects users must create.", {
    annotations = map(string_map, "Annotations is an unstructured key value map stored with a resource "
      .. "that may be set by external tools to store and retrieve arbitrary metadata. More info: "
      .. "https://kubernetes.io/docs/concepts/overview/working-with-objects/annotations"),
    creationTimestamp = ref(META .. "Time", "CreationTimestamp is a timestamp representing the server "
      .. "time when this object was created. Populated by the system. Read-only."),
    deletionGracePeriodSeconds = int("Number of seconds allowed for this object to gracefully terminate "
      .. "before it will be removed from the system. Only set when deletionTimestamp is also set.", "int64"),
    deletionTimestamp = ref(META .. "Time", "DeletionTimestamp is RFC 3339 date and time at which this "
      .. "resource will be deleted. Set by the server when a graceful deletion is requested by the user."),
    finalizers = list(string_map, "Must be empty before the object is deleted from the registry. Each "
      .. "entry is an identifier for the responsible component that will remove the entry from the list.",
      { ["x-kubernetes-list-type"] = "set", ["x-kubernetes-patch-strategy"] = "merge" }),
    generateName = str("GenerateName is an optional prefix, used by the server, to generate a unique name "
      .. "ONLY IF the Name field has not been provided."),
    generation = int("A sequence number representing a specific generation of the desired state. "
      .. "Populated by the system. Read-only.", "int64"),
    labels = map(string_map, "Map of string keys and values that can be used to organize and categorize "
      .. "(scope and select) objects. More info: "
        .. "https://kubernetes.io/docs/concepts/overview/working-with-objects/labels"),
    managedFields = list(ref(META .. "ManagedFieldsEntry", nil), "ManagedFields maps workflow-id and "
      .. "version to the set of fields that are managed by that workflow.",
      { ["x-kubernetes-list-type"] = "atomic" }),
    name = str("Name must be unique within a namespace. Cannot be updated. More info: "
      .. "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"),
    namespace = str("Namespace defines the space within which each name must be unique. Cannot be "
      .. "updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/namespaces"),
    ownerReferences = list(ref(META .. "OwnerReference", nil), "List of objects depended by this object. "
      .. "If ALL objects in the list have been deleted, this object will be garbage collected.", {
        ["x-kubernetes-list-map-keys"] = A({ "uid" }), ["x-kubernetes-list-type"] = "map",
        ["x-kubernetes-patch-merge-key"] = "uid", ["x-kubernetes-patch-strategy"] = "merge" }),
    resourceVersion = str("An opaque value that represents the internal version of this object that can "
      .. "be used by clients to determine when objects have changed. Populated by the system. Read-only."),
    selfLink = str("Deprecated: selfLink is a legacy read-only field that is no longer populated by "
      .. "the system."),
    uid = str("UID is the unique in time and space value for this object. Populated by the system. "
      .. "Read-only."),
  })
S[META .. "ManagedFieldsEntry"] = object("ManagedFieldsEntry is a workflow-id, a FieldSet and the group "
  .. "version of the resource that the fieldset applies to.", {
    apiVersion = str("APIVersion defines the version of this resource that this field set applies to."),
    fieldsType = str("FieldsType is the discriminator for the different fields format and version. There "
      .. "is currently only one possible value: \"FieldsV1\""),
    fieldsV1 = ref(META .. "FieldsV1", "FieldsV1 holds the first JSON version format as described in the "
      .. "\"FieldsV1\" type."),
    manager = str("Manager is an identifier of the workflow managing these fields."),
    operation = str("Operation is the type of operation which lead to this ManagedFieldsEntry being "
      .. "created. The only valid values for this field are 'Apply' and 'Update'."),
    subresource = str("Subresource is the name of the subresource used to update that object, or empty "
      .. "string if the object was updated through the main resource."),
    time = ref(META .. "Time", "Time is the timestamp of when the ManagedFields entry was added."),
  })
S[META .. "OwnerReference"] = object("OwnerReference contains enough information to let you identify an "
  .. "owning object. An owning object must be in the same namespace as the dependent, or be cluster-scoped, "
  .. "so there is no namespace field.", {
    apiVersion = str("API version of the referent.", { default = "" }),
    blockOwnerDeletion = bool("If true, AND if the owner has the \"foregroundDeletion\" finalizer, then "
      .. "the owner cannot be deleted from the key-value store until this reference is removed."),
    controller = bool("If true, this reference points to the managing controller."),
    kind = str("Kind of the referent.", { default = "" }),
    name = str("Name of the referent.", { default = "" }),
    uid = str("UID of the referent.", { default = "" }),
  }, { "apiVersion", "kind", "name", "uid" }, { ["x-kubernetes-map-type"] = "atomic" })
S[META .. "ListMeta"] = object("ListMeta describes metadata that synthetic resources must have, including "
  .. "lists and various status objects.", {
    ["continue"] = str("continue may be set if the user set a limit on the number of items returned, and "
      .. "indicates that the server has more data available."),
    remainingItemCount = int("remainingItemCount is the number of subsequent items in the list which are "
      .. "not included in this list response.", "int64"),
    resourceVersion = str("String that identifies the server's internal version of this object that can "
      .. "be used by clients to determine when objects have changed."),
    selfLink = str("Deprecated: selfLink is a legacy read-only field that is no longer populated by "
      .. "the system."),
  })
S[META .. "Preconditions"] = object("Preconditions must be fulfilled before an operation (update, delete, "
  .. "etc.) is carried out.", {
    resourceVersion = str("Specifies the target ResourceVersion"),
    uid = str("Specifies the target UID."),
  })
S[META .. "DeleteOptions"] = object("DeleteOptions may be provided when deleting an API object.", {
    apiVersion = str(texts._apiVersion),
    dryRun = list(string_map, texts.dryRun, { ["x-kubernetes-list-type"] = "atomic" }),
    gracePeriodSeconds = int(texts.gracePeriodSeconds, "int64"),
    kind = str(texts._kind),
    orphanDependents = bool(texts.orphanDependents),
    preconditions = ref(META .. "Preconditions", "Must be fulfilled before a deletion is carried out. If "
      .. "not possible, a 409 Conflict status will be returned."),
    propagationPolicy = str(texts.propagationPolicy),
  })
S[META .. "StatusCause"] = object("StatusCause provides more information about an api.Status failure, "
  .. "including cases when multiple errors are encountered.", {
    field = str("The field of the resource that has caused this error, as named by its JSON serialization."),
    message = str("A human-readable description of the cause of the error."),
    reason = str("A machine-readable description of the cause of the error."),
  })
S[META .. "StatusDetails"] = object("StatusDetails is a set of additional properties that MAY be set by "
  .. "the server to provide additional information about a response.", {
    causes = list(ref(META .. "StatusCause", nil), "The Causes array includes more details associated "
      .. "with the StatusReason failure.", { ["x-kubernetes-list-type"] = "atomic" }),
    group = str("The group attribute of the resource associated with the status StatusReason."),
    kind = str("The kind attribute of the resource associated with the status StatusReason."),
    name = str("The name attribute of the resource associated with the status StatusReason (when there "
      .. "is a single name which can be described)."),
    retryAfterSeconds = int("If specified, the time in seconds before the operation should be retried."),
    uid = str("UID of the resource."),
  })
S[META .. "Status"] = object("Status is a return value for calls that don't return other objects.", {
    apiVersion = str(texts._apiVersion),
    code = int("Suggested HTTP return code for this status, 0 if not set."),
    details = ref(META .. "StatusDetails", "Extended data associated with the reason."),
    kind = str(texts._kind),
    message = str("A human-readable description of the status of this operation."),
    metadata = ref(META .. "ListMeta", texts._listMetadata),
    reason = str("A machine-readable description of why this operation is in the \"Failure\" status."),
    status = str("Status of the operation. One of: \"Success\" or \"Failure\"."),
  }, nil, { ["x-kubernetes-group-version-kind"] = gvk("", "v1", "Status") })

-- ---- core/v1 ----

S[CORE .. "ObjectReference"] = object("ObjectReference contains enough information to let you inspect or "
  .. "modify the referred object.", {
    apiVersion = str("API version of the referent."),
    fieldPath = str("If referring to a piece of an object instead of an entire object, this string "
      .. "should contain a valid JSON/Go field access statement, such as "
        .. "desiredState.manifest.containers[2]."),
    kind = str("Kind of the referent."),
    name = str("Name of the referent."),
    namespace = str("Namespace of the referent."),
    resourceVersion = str("Specific resourceVersion to which this reference is made, if any."),
    uid = str("UID of the referent."),
  }, nil, { ["x-kubernetes-map-type"] = "atomic" })
S[CORE .. "EventSource"] = object("EventSource contains information for an event.", {
    component = str("Component from which the event is generated."),
    host = str("Node name on which the event is generated."),
  })
S[CORE .. "EventSeries"] = object("EventSeries contain information on series of events, i.e. thing that "
  .. "was/is happening continuously for some time.", {
    count = int("Number of occurrences in this series up to the last heartbeat time"),
    lastObservedTime = ref(META .. "MicroTime", "Time of the last occurrence observed"),
  })
S[CORE .. "Event"] = kind_schema("Event is a report of an event somewhere in the "
  .. "cluster.", "", "v1", "Event", {
    action = str("What action was taken/failed regarding to the Regarding object."),
    count = int("The number of times this event has occurred."),
    eventTime = ref(META .. "MicroTime", "Time when this Event was first observed."),
    firstTimestamp = ref(META .. "Time", "The time at which the event was first recorded. (Time of server "
      .. "receipt is in TypeMeta.)"),
    involvedObject = ref(CORE .. "ObjectReference", "The object that this event is about."),
    lastTimestamp = ref(META .. "Time", "The time at which the most recent occurrence of this event "
      .. "was recorded."),
    message = str("A human-readable description of the status of this operation."),
    reason = str("This should be a short, machine understandable string that gives the reason for the "
      .. "transition into the object's current status."),
    related = ref(CORE .. "ObjectReference", "Optional secondary object for more complex actions."),
    reportingComponent = str("Name of the controller that emitted this Event, e.g. `kubernetes.io/kubelet`.",
      { default = "" }),
    reportingInstance = str("ID of the controller instance, e.g. `kubelet-xyzf`.", { default = "" }),
    series = ref(CORE .. "EventSeries", "Data about the Event series this event represents or nil if "
      .. "it's a singleton Event."),
    source = ref(CORE .. "EventSource", "The component reporting this event. Should be a short machine "
      .. "understandable string."),
    type = str("Type of this event (Normal, Warning), new types could be added in the future"),
  }, { "metadata", "involvedObject" })
S[CORE .. "EventList"] = list_schema("EventList is a list of events.", "", "v1", "EventList", CORE .. "Event")
S[CORE .. "ConfigMap"] = kind_schema("ConfigMap holds configuration data for pods to consume.", "", "v1",
  "ConfigMap", {
    binaryData = map({ type = "string", format = "byte" }, "BinaryData contains the binary data. Each key "
      .. "must consist of alphanumeric characters, '-', '_' or '.'."),
    data = map(string_map, "Data contains the configuration data. Each key must consist of alphanumeric "
      .. "characters, '-', '_' or '.'."),
    immutable = bool("Immutable, if set to true, ensures that data stored in the ConfigMap cannot be "
      .. "updated (only object metadata can be modified)."),
  })
S[CORE .. "ConfigMapList"] = list_schema("ConfigMapList is a resource containing a list of ConfigMap "
  .. "objects.", "", "v1", "ConfigMapList", CORE .. "ConfigMap")
S[CORE .. "Secret"] = kind_schema("Secret holds secret data of a certain type. The total bytes of the "
  .. "values in the Data field must be less than MaxSecretSize bytes.", "", "v1", "Secret", {
    data = map({ type = "string", format = "byte" }, "Data contains the secret data. Each key must "
      .. "consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is "
      .. "a base64 encoded string."),
    immutable = bool("Immutable, if set to true, ensures that data stored in the Secret cannot be updated "
      .. "(only object metadata can be modified)."),
    stringData = map(string_map, "stringData allows specifying non-binary secret data in string form. It "
      .. "is provided as a write-only input field for convenience."),
    type = str("Used to facilitate programmatic handling of secret data. More info: "
      .. "https://kubernetes.io/docs/concepts/configuration/secret/#secret-types"),
  })
S[CORE .. "SecretList"] = list_schema("SecretList is a list of "
  .. "Secret.", "", "v1", "SecretList", CORE .. "Secret")
S[CORE .. "NamespaceCondition"] = object("NamespaceCondition contains details about state of namespace.", {
    lastTransitionTime = ref(META .. "Time", "Last time the condition transitioned from one status "
      .. "to another."),
    message = str("Human-readable message indicating details about last transition."),
    reason = str("Unique, one-word, CamelCase reason for the condition's last transition."),
    status = str("Status of the condition, one of True, False, Unknown.", { default = "" }),
    type = str("Type of namespace controller condition.", { default = "" }),
  }, { "type", "status" })
S[CORE .. "NamespaceSpec"] = object("NamespaceSpec describes the attributes on a Namespace.", {
    finalizers = list(string_map, "Finalizers is an opaque list of values that must be empty to "
      .. "permanently remove object from storage.", { ["x-kubernetes-list-type"] = "atomic" }),
  })
S[CORE .. "NamespaceStatus"] = object("NamespaceStatus is information about the current status of a "
  .. "Namespace.", {
    conditions = list(ref(CORE .. "NamespaceCondition", nil), "Represents the latest available "
      .. "observations of a namespace's current state.", {
        ["x-kubernetes-list-map-keys"] = A({ "type" }), ["x-kubernetes-list-type"] = "map",
        ["x-kubernetes-patch-merge-key"] = "type", ["x-kubernetes-patch-strategy"] = "merge" }),
    phase = str("Phase is the current lifecycle phase of the namespace. Possible enum values: "
      .. "`\"Active\"`, `\"Terminating\"`", { enum = A({ "Active", "Terminating" }) }),
  })
S[CORE .. "Namespace"] = kind_schema("Namespace provides a scope for Names. Use of multiple namespaces is "
  .. "optional.", "", "v1", "Namespace", {
    spec = ref(CORE .. "NamespaceSpec", "Spec defines the behavior of the Namespace."),
    status = ref(CORE .. "NamespaceStatus", "Status describes the current status of a Namespace."),
  })
S[CORE .. "NamespaceList"] = list_schema("NamespaceList is a list of Namespaces.", "", "v1",
  "NamespaceList", CORE .. "Namespace")

-- ---- coordination.k8s.io/v1 ----

S[COORD .. "LeaseSpec"] = object("LeaseSpec is a specification of a Lease.", {
    acquireTime = ref(META .. "MicroTime", "acquireTime is a time when the current lease was acquired."),
    holderIdentity = str("holderIdentity contains the identity of the holder of a current lease."),
    leaseDurationSeconds = int("leaseDurationSeconds is a duration that candidates for a lease need to "
      .. "wait to force acquire it. This is measured against the time of last observed renewTime."),
    leaseTransitions = int("leaseTransitions is the number of transitions of a lease between holders."),
    preferredHolder = str("PreferredHolder signals to a lease holder that the lease has a more optimal "
      .. "holder and should be given up."),
    renewTime = ref(META .. "MicroTime", "renewTime is a time when the current holder of a lease has last "
      .. "updated the lease."),
    strategy = str("Strategy indicates the strategy for picking the leader for coordinated leader election."),
  })
S[COORD .. "Lease"] = kind_schema("Lease defines a lease concept.", "coordination.k8s.io", "v1", "Lease", {
    spec = ref(COORD .. "LeaseSpec", "spec contains the specification of the Lease. More info: "
      .. "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md"
      .. "#spec-and-status"),
  })
S[COORD .. "LeaseList"] = list_schema("LeaseList is a list of Lease objects.", "coordination.k8s.io", "v1",
  "LeaseList", COORD .. "Lease")

-- ---- events.k8s.io/v1 ----

S[EVENTS .. "EventSeries"] = object("EventSeries contain information on series of events, i.e. thing "
  .. "that was/is happening continuously for some time.", {
    count = int("count is the number of occurrences in this series up to the last heartbeat time."),
    lastObservedTime = ref(META .. "MicroTime", "lastObservedTime is the time when last Event from the "
      .. "series was seen before last heartbeat."),
  }, { "count", "lastObservedTime" })
S[EVENTS .. "Event"] = kind_schema("Event is a report of an event somewhere in the cluster.",
  "events.k8s.io", "v1", "Event", {
    action = str("action is what action was taken/failed regarding to the regarding object."),
    deprecatedCount = int("deprecatedCount is the deprecated field assuring backward compatibility with "
      .. "core.v1 Event type."),
    deprecatedFirstTimestamp = ref(META .. "Time", "deprecatedFirstTimestamp is the deprecated field "
      .. "assuring backward compatibility with core.v1 Event type."),
    deprecatedLastTimestamp = ref(META .. "Time", "deprecatedLastTimestamp is the deprecated field "
      .. "assuring backward compatibility with core.v1 Event type."),
    deprecatedSource = ref(CORE .. "EventSource", "deprecatedSource is the deprecated field assuring "
      .. "backward compatibility with core.v1 Event type."),
    eventTime = ref(META .. "MicroTime", "eventTime is the time when this Event was first observed."),
    note = str("note is a human-readable description of the status of this operation."),
    reason = str("reason is why the action was taken. It is human-readable."),
    regarding = ref(CORE .. "ObjectReference", "regarding contains the object this Event is about."),
    related = ref(CORE .. "ObjectReference", "related is the optional secondary object for more "
      .. "complex actions."),
    reportingController = str("reportingController is the name of the controller that emitted this Event."),
    reportingInstance = str("reportingInstance is the ID of the controller instance."),
    series = ref(EVENTS .. "EventSeries", "series is data about the Event series this event represents "
      .. "or nil if it's a singleton Event."),
    type = str("type is the type of this event (Normal, Warning), new types could be added in the future."),
  }, { "eventTime" })
S[EVENTS .. "EventList"] = list_schema("EventList is a list of Event objects.", "events.k8s.io", "v1",
  "EventList", EVENTS .. "Event")

-- ---- apiextensions.k8s.io/v1 (the CRD's own schema is left open) ----

S[APIEXT .. "CustomResourceDefinitionNames"] = object("CustomResourceDefinitionNames indicates the names "
  .. "to serve this CustomResourceDefinition", {
    categories = list(string_map, "categories is a list of grouped resources this custom resource belongs "
      .. "to (e.g. 'all').", { ["x-kubernetes-list-type"] = "atomic" }),
    kind = str("kind is the serialized kind of the resource. It is normally CamelCase and singular."),
    listKind = str("listKind is the serialized kind of the list for this resource. Defaults to "
      .. "\"`kind`List\"."),
    plural = str("plural is the plural name of the resource to serve."),
    shortNames = list(string_map, "shortNames are short names for the resource, exposed in API discovery "
      .. "documents.", { ["x-kubernetes-list-type"] = "atomic" }),
    singular = str("singular is the singular name of the resource. It must be all lowercase. Defaults to "
      .. "lowercased `kind`."),
  }, { "plural", "kind" })
S[APIEXT .. "CustomResourceDefinitionVersion"] = object("CustomResourceDefinitionVersion describes a "
  .. "version for CRD.", {
    additionalPrinterColumns = list({ type = "object", ["x-kubernetes-preserve-unknown-fields"] = true },
      "additionalPrinterColumns specifies additional columns returned in Table output.",
      { ["x-kubernetes-list-type"] = "atomic" }),
    deprecated = bool("deprecated indicates this version of the custom resource API is deprecated."),
    deprecationWarning = str("deprecationWarning overrides the default warning returned to API clients."),
    name = str("name is the version name, e.g. \"v1\", \"v2beta1\", etc."),
    schema = { type = "object", ["x-kubernetes-preserve-unknown-fields"] = true,
      description = "schema describes the schema used for validation, pruning, and defaulting of this "
        .. "version of the custom resource." },
    served = bool("served is a flag enabling/disabling this version from being served via REST APIs"),
    storage = bool("storage indicates this version should be used when persisting custom resources "
      .. "to storage."),
    subresources = { type = "object", ["x-kubernetes-preserve-unknown-fields"] = true,
      description = "subresources specify what subresources this version of the defined custom "
        .. "resource have." },
  }, { "name", "served", "storage" })
S[APIEXT .. "CustomResourceDefinitionSpec"] = object("CustomResourceDefinitionSpec describes how a user "
  .. "wants their resource to appear", {
    conversion = { type = "object", ["x-kubernetes-preserve-unknown-fields"] = true,
      description = "conversion defines conversion settings for the CRD." },
    group = str("group is the API group of the defined custom resource."),
    names = ref(APIEXT .. "CustomResourceDefinitionNames", "names specify the resource and kind names for "
      .. "the custom resource."),
    preserveUnknownFields = bool("preserveUnknownFields indicates that object fields which are not "
      .. "specified in the OpenAPI schema should be preserved when persisting to storage."),
    scope = str("scope indicates whether the defined custom resource is cluster- or namespace-scoped. "
      .. "Allowed values are `Cluster` and `Namespaced`."),
    versions = list(ref(APIEXT .. "CustomResourceDefinitionVersion", nil), "versions is the list of all "
      .. "API versions of the defined custom resource.", { ["x-kubernetes-list-type"] = "atomic" }),
  }, { "group", "names", "scope", "versions" })
S[APIEXT .. "CustomResourceDefinitionStatus"] = object("CustomResourceDefinitionStatus indicates the "
  .. "state of the CustomResourceDefinition", {
    acceptedNames = ref(APIEXT .. "CustomResourceDefinitionNames", "acceptedNames are the names that are "
      .. "actually being used to serve discovery."),
    conditions = list({ type = "object", ["x-kubernetes-preserve-unknown-fields"] = true },
      "conditions indicate state for particular aspects of a CustomResourceDefinition", {
        ["x-kubernetes-list-map-keys"] = A({ "type" }), ["x-kubernetes-list-type"] = "map" }),
    storedVersions = list(string_map, "storedVersions lists all versions of CustomResources that were ever "
      .. "persisted.", { ["x-kubernetes-list-type"] = "atomic" }),
  })
S[APIEXT .. "CustomResourceDefinition"] = kind_schema("CustomResourceDefinition represents a resource "
  .. "that should be exposed on the API server. Its name MUST be in the format <.spec.name>.<.spec.group>.",
  "apiextensions.k8s.io", "v1", "CustomResourceDefinition", {
    spec = ref(APIEXT .. "CustomResourceDefinitionSpec", "spec describes how the user wants the resources "
      .. "to appear"),
    status = ref(APIEXT .. "CustomResourceDefinitionStatus", "status indicates the actual state of the "
      .. "CustomResourceDefinition"),
  }, { "spec" })
S[APIEXT .. "CustomResourceDefinitionList"] = list_schema("CustomResourceDefinitionList is a list of "
  .. "CustomResourceDefinition objects.", "apiextensions.k8s.io", "v1", "CustomResourceDefinitionList",
  APIEXT .. "CustomResourceDefinition")

-- The schema names of the kinds above, by "group/Kind".
local KIND_NAMES = {
  ["/Event"] = CORE .. "Event", ["/ConfigMap"] = CORE .. "ConfigMap", ["/Secret"] = CORE .. "Secret",
  ["/Namespace"] = CORE .. "Namespace", ["coordination.k8s.io/Lease"] = COORD .. "Lease",
  ["events.k8s.io/Event"] = EVENTS .. "Event",
  ["apiextensions.k8s.io/CustomResourceDefinition"] = APIEXT .. "CustomResourceDefinition",
}

return { schemas = S, kind_names = KIND_NAMES, META = META, ref = ref }
