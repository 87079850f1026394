//! What the validators enforce, stated in the document where utoipa's annotations cannot
//! say it: the pattern and length of every identifier in a path or query (from
//! `tollgate-core`'s own [`id_pattern`]), the ranges of numbers, and the links from each
//! creating operation to the operations that take the id it answers with. A client
//! generated from the document, or a fuzzer such as Schemathesis, then sends what the API
//! takes, and is refused exactly what the document excludes.

use crate::admin::MAX_LIST_LIMIT;
use serde_json::{Value, json};
use tollgate_core::catalog::{Catalog, Grant, Item};
use tollgate_core::checkout::{MAX_QUANTITY, Mode, mode_for};
use tollgate_core::ids::{AccountId, CustomerId, EventId, KeyId, MAX_ID_LEN, RunId, Sku, WorkflowId, id_pattern};

/// The schema of an identifier with `prefix`.
fn id(prefix: &str) -> Value {
    json!({"type": "string", "minLength": prefix.len().max(1), "maxLength": MAX_ID_LEN, "pattern": id_pattern(prefix)})
}

/// A user's account id: any id but those of tollgate's own (`workflow:…`) accounts.
fn user_id() -> Value {
    let mut schema = id(AccountId::PREFIX);
    schema["not"] = json!({"pattern": "^workflow:"});
    schema
}

/// The schema of each parameter, by the paths it appears in and its name.
fn parameter(path: &str, name: &str) -> Option<Value> {
    let schema = match (path, name) {
        (_, "account") => id(AccountId::PREFIX),
        (_, "customer") => id(CustomerId::PREFIX),
        (_, "hash") => json!({"type": "string", "pattern": "^[0-9a-f]{64}$"}),
        (_, "run_id") => id(RunId::PREFIX),
        ("/v1/runs", "limit") => json!({"type": "integer", "minimum": 1, "maximum": tollgate_app::sales::MAX_PAGE}),
        (_, "limit") => json!({"type": "integer", "minimum": 1, "maximum": MAX_LIST_LIMIT}),
        ("/v1/runs", "workflow") => id(WorkflowId::PREFIX),
        ("/v1/runs", "starting_after") => id(RunId::PREFIX),
        (_, "ticket") => json!({"type": "string", "pattern": "^[0-9a-f]{48}$"}),
        (path, "id") if path.starts_with("/admin/workflows/") || path.starts_with("/v1/workflows/") => {
            id(WorkflowId::PREFIX)
        }
        (path, "id") if path.starts_with("/admin/events/") => id(EventId::PREFIX),
        (path, "id") if path.starts_with("/api/keys/") => id(KeyId::PREFIX),
        _ => return None,
    };
    Some(schema)
}

/// Fields of request bodies whose rules utoipa's annotations leave out.
fn body_field(component: &str, field: &str) -> Option<Value> {
    let schema = match (component, field) {
        ("CheckoutBody", "sku") => id(Sku::PREFIX),
        ("CheckoutBody", "referral_code") => user_id(),
        ("CheckoutBody", "quantity") => json!({"type": "integer", "minimum": 1, "maximum": MAX_QUANTITY}),
        ("CheckoutBody", "success_url" | "cancel_url") => {
            json!({"type": "string", "pattern": "^https?://[^\\s\\x00-\\x1f\\x7f-\\x9f]+$"})
        }
        ("WorkflowBody", "id") => id(WorkflowId::PREFIX),
        ("WorkflowBody", "timezone") => zone(),
        ("WorkflowBody", "name") => json!({"type": "string", "minLength": 1,
            "maxLength": tollgate_app::orchestrator::MAX_NAME_CHARS, "pattern": "\\S"}),
        ("WorkflowBody", "webhook_url") => {
            json!({"type": "string", "maxLength": 2048, "pattern": tollgate_core::workflow::WEBHOOK_URL_PATTERN})
        }
        ("WorkflowBody", "timeout_s") => {
            json!({"type": "integer", "minimum": 1, "maximum": tollgate_core::workflow::MAX_TIMEOUT_SECONDS})
        }
        ("EndpointBody", "url") => json!({"type": "string", "maxLength": 2048, "pattern": ENDPOINT_URL_PATTERN}),
        ("NewKeyRequest", "mode") => json!({"type": "string", "enum": ["live", "test"], "examples": ["test"]}),
        ("PremiumChoiceBody", "workflows") => json!({"type": "array", "items": id(WorkflowId::PREFIX),
            "uniqueItems": true, "maxItems": crate::buyer::MAX_CHOICE}),
        ("PayoutRunBody", "period") => json!({"type": "string", "pattern": "^[0-9]{4}-(0[1-9]|1[0-2])$"}),
        _ => return None,
    };
    Some(schema)
}

/// An account's webhook endpoint: `https`, or plain `http` to loopback (taken on `tollgate dev`
/// only; in the cloud an address must also be public, which no pattern states).
const ENDPOINT_URL_PATTERN: &str =
    r"^(https://[A-Za-z0-9._~-]+|http://(127\.0\.0\.1|localhost))(:[0-9]{1,5})?([/?#][^\s\x00-\x1f\x7f-\x9f]*)?$";

fn zone() -> Value {
    json!({"type": "string", "enum": tollgate_core::cron::zone_names().collect::<Vec<_>>()})
}

fn cron() -> Value {
    json!({"type": "string", "pattern": tollgate_core::cron::CRON_PATTERN,
        "description": "Five fields (minute hour day-of-month month day-of-week); month and weekday names are taken too. A schedule that never fires is refused."})
}

/// From a created resource to the operations that use its id.
fn links() -> [(&'static str, &'static str, &'static str, Value); 3] {
    let workflow = |operation: &str| json!({"operationId": operation, "parameters": {"id": "$response.body#/id"}});
    [
        (
            "/admin/workflows",
            "post",
            "201",
            json!({
                "GetWorkflow": workflow("workflow"),
                "ChangeWorkflow": workflow("change"),
                "StartWorkflow": workflow("start_now"),
                "ListRuns": workflow("runs"),
            }),
        ),
        // A run started by hand is listed among its workflow's runs.
        (
            "/admin/workflows/{id}/run",
            "post",
            "202",
            json!({"ListRuns": {"operationId": "runs", "parameters": {"id": "$response.body#/workflow_id"}}}),
        ),
        (
            "/api/keys",
            "post",
            "201",
            json!({"RevokeKey": {"operationId": "revoke", "parameters": {"id": "$response.body#/id"}}}),
        ),
    ]
}

pub(super) fn apply(document: &mut Value) {
    if let Some(paths) = document["paths"].as_object_mut() {
        for (path, operations) in paths.iter_mut() {
            let Some(operations) = operations.as_object_mut() else { continue };
            for operation in operations.values_mut() {
                let Some(parameters) = operation.get_mut("parameters").and_then(Value::as_array_mut) else { continue };
                for parameter_doc in parameters {
                    let name = parameter_doc["name"].as_str().unwrap_or_default().to_owned();
                    if let Some(schema) = parameter(path, &name) {
                        parameter_doc["schema"] = schema;
                    }
                }
            }
        }
    }
    if let Some(schemas) = document["components"]["schemas"].as_object_mut() {
        for (component, schema) in schemas.iter_mut() {
            let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) else { continue };
            for (field, property) in properties.iter_mut() {
                if let Some(constrained) = body_field(component, field) {
                    // The field stays optional (`null` is taken) where it was.
                    let nullable = property["type"].as_array().is_some_and(|types| types.contains(&json!("null")));
                    let description = property["description"].clone();
                    *property = if nullable { json!({"oneOf": [{"type": "null"}, constrained]}) } else { constrained };
                    if !description.is_null() {
                        property["description"] = description;
                    }
                }
            }
        }
    }
    document["components"]["schemas"]["ScheduleBody"]["oneOf"] = json!([
        cron(),
        {"type": "object", "required": ["cron"], "additionalProperties": false,
            "properties": {"cron": cron(), "timezone": {"oneOf": [{"type": "null"}, zone()]}}},
    ]);
    split_workflow_body(document);
    for (path, method, status, links) in links() {
        document["paths"][path][method]["responses"][status]["links"] = links;
    }
}

/// One body type reads both a registration and a change, so that a missing field is named
/// rather than the body called unreadable; the document tells them apart: a registration
/// needs `id`, `name`, `webhook_url`, and a `schedule` or a `sell`; a change may not name `id`.
fn split_workflow_body(document: &mut Value) {
    let schemas = &mut document["components"]["schemas"];
    let body = schemas["WorkflowBody"].clone();
    let mut registration = body.clone();
    registration["required"] = json!(["id", "name", "webhook_url"]);
    registration["anyOf"] = json!([{"required": ["schedule"]}, {"required": ["sell"]}]);
    for field in ["id", "name", "webhook_url", "schedule"] {
        let property = &mut registration["properties"][field];
        if let Some(one_of) = property["oneOf"].as_array() {
            let defined: Vec<Value> = one_of.iter().filter(|schema| schema["type"] != "null").cloned().collect();
            let description = property["description"].clone();
            *property = defined.into_iter().next().unwrap_or_default();
            if !description.is_null() {
                property["description"] = description;
            }
        } else if let Some(types) = property["type"].as_array() {
            property["type"] = types.iter().find(|kind| *kind != "null").cloned().unwrap_or_default();
        }
    }
    let mut change = body;
    change["properties"]["id"] = json!({"type": "null", "description": "A workflow's id cannot be changed."});
    change["examples"] = json!([{"enabled": false}]);
    registration["examples"] = json!([{"id": "daily_shorts", "name": "Daily shorts",
        "webhook_url": "https://n8n.example.com/webhook/daily-shorts", "schedule": "0 9 * * *", "timezone": "America/La_Paz"}]);
    schemas["WorkflowRegistration"] = registration;
    schemas["WorkflowChange"] = change;
    let at = |path: &str, method: &str| {
        format!(
            "/paths/{}/{method}/requestBody/content/application~1json/schema/$ref",
            path.replace('~', "~0").replace('/', "~1")
        )
    };
    if let Some(reference) = document.pointer_mut(&at("/admin/workflows", "post")) {
        *reference = json!("#/components/schemas/WorkflowRegistration");
    }
    if let Some(reference) = document.pointer_mut(&at("/admin/workflows/{id}", "patch")) {
        *reference = json!("#/components/schemas/WorkflowChange");
    }
}

/// `POST /api/checkout`'s body as this deployment takes it: a SKU its catalog sells (a
/// subscription once, a product up to [`MAX_QUANTITY`] at a time; a workflow subscription
/// with `params` as its `params_schema` says), redirects on its allowed origins.
pub(super) fn checkout_body(document: &mut Value, catalog: &Catalog, redirect_origins: &[String]) {
    let with_params = |item: &Item| matches!(item.grant, Grant::WorkflowSubscription { .. });
    let for_sale = |mode: Mode| -> Vec<&str> {
        let items = catalog.items().iter().filter(|item| mode_for(item) == Some(mode) && !with_params(item));
        items.map(|item| item.sku.as_str()).collect()
    };
    let mut alternatives: Vec<String> = redirect_origins.iter().map(|origin| regex_escaped(origin)).collect();
    alternatives.sort();
    alternatives.dedup();
    let redirect = json!({"oneOf": [{"type": "null"}, {"type": "string",
        "pattern": format!("^({})([/?#][^\\s\\x00-\\x1f\\x7f-\\x9f]*)?$", alternatives.join("|"))}]});
    let body = |skus: Vec<&str>, quantity: Value| {
        json!({"type": "object", "additionalProperties": false, "required": ["sku"], "properties": {
            "sku": {"type": "string", "enum": skus},
            "quantity": {"oneOf": [{"type": "null"}, quantity]},
            "referral_code": {"oneOf": [{"type": "null"}, user_id()]},
            "success_url": redirect.clone(),
            "cancel_url": redirect.clone(),
        }})
    };
    let mut alternatives = Vec::new();
    for (mode, quantity) in [
        (Mode::Subscription, json!({"type": "integer", "const": 1})),
        (Mode::Payment, json!({"type": "integer", "minimum": 1, "maximum": MAX_QUANTITY})),
    ] {
        let skus = for_sale(mode);
        if !skus.is_empty() {
            alternatives.push(body(skus, quantity));
        }
    }
    for item in catalog.items().iter().filter(|item| item.lookup_key.is_some()) {
        if let Grant::WorkflowSubscription { params_schema, .. } = &item.grant {
            let mut sold = body(vec![item.sku.as_str()], json!({"type": "integer", "const": 1}));
            sold["properties"]["params"] = params_schema.clone();
            alternatives.push(sold);
        }
    }
    let schema = &mut document["components"]["schemas"]["CheckoutBody"];
    let description = schema["description"].clone();
    *schema = json!({"description": description, "oneOf": alternatives});
}

/// `text` matched literally in a regular expression. Written here because the `regex`
/// crate, whose `escape` this is, is not otherwise linked into the functions' binaries.
fn regex_escaped(text: &str) -> String {
    text.chars().fold(String::new(), |mut escaped, c| {
        if "\\.+*?()|[]{}^$/".contains(c) {
            escaped.push('\\');
        }
        escaped.push(c);
        escaped
    })
}
