"""Django REST framework and drf-spectacular: one error shape, bearer API keys, limit/offset lists."""

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.identity.authentication.ApiKeyAuthentication",
        "apps.identity.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["apps.core.api.renderers.JSONRenderer"],  # DRF's, its body by orjson
    "DEFAULT_PARSER_CLASSES": ["apps.core.api.parsers.JSONParser"],  # DRF's, refusing U+0000
    "DEFAULT_PAGINATION_CLASS": "apps.core.api.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 200,
    "EXCEPTION_HANDLER": "apps.core.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    "DATETIME_FORMAT": "iso-8601",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Praetor API",
    "DESCRIPTION": "Management API (Prefect Cloud-shaped) and per-workspace Prefect 2 orchestration API.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api",
    "PREPROCESSING_HOOKS": ["apps.core.api.schema.drop_slash_aliases"],
    "ENUM_NAME_OVERRIDES": {
        "BlockDocumentSort": "apps.engine.schemas.blocks.BLOCK_DOCUMENT_SORTS",
        "VariableSort": "apps.engine.schemas.variables.VARIABLE_SORTS",
        "ArtifactSort": "apps.engine.schemas.artifacts.SORT_CHOICES",
        "WorkPoolStatus": "apps.engine.schemas.work_pools.STATUSES",
        "DeploymentStatus": ["READY", "NOT_READY"],
        "WorkerStatus": ["ONLINE", "OFFLINE"],
        "StateType": "apps.engine.schemas.states.STATE_TYPES",
        "OrchestrationStatus": ["ACCEPT", "REJECT", "WAIT", "ABORT"],
        "FlowSort": "apps.engine.schemas.filters.FLOW_SORTS",
        "FlowRunSort": "apps.engine.schemas.filters.FLOW_RUN_SORTS",
        "TaskRunSort": "apps.engine.schemas.filters.TASK_RUN_SORTS",
        "LogSort": "apps.engine.schemas.logs.LOG_SORTS",
    },
}
