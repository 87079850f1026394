//! A sold workflow's input schema (JSON Schema, draft 2020-12 unless it says otherwise),
//! compiled with the `jsonschema` crate: a registration whose schema does not compile is
//! refused, and a run's input is checked against it before anything is charged.

use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tollgate_core::ids::WorkflowId;
use tollgate_core::workflow::Workflow;

/// A compiled input schema.
pub struct InputSchema(jsonschema::Validator);

/// Where an input first fails its schema, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputRefusal {
    /// The JSON pointer of the failing value (`""` for the input itself, `/prompt`…).
    pub pointer: String,
    pub reason: String,
}

impl InputSchema {
    /// Compiles `schema`; why not, for people, when it is no schema. Remote `$ref`s are
    /// not fetched (the crate is built without them): a schema stands on its own.
    pub fn compile(schema: &Value) -> Result<Self, String> {
        jsonschema::validator_for(schema).map(Self).map_err(|error| format!("is not a valid JSON Schema: {error}"))
    }

    /// The first place `input` fails the schema, if any.
    pub fn refusal(&self, input: &Value) -> Option<InputRefusal> {
        self.0
            .iter_errors(input)
            .next()
            .map(|error| InputRefusal { pointer: error.instance_path().to_string(), reason: error.to_string() })
    }
}

/// Each sold workflow's schema, compiled once per version of the workflow: a run request
/// checks its input without compiling the schema again.
#[derive(Default)]
pub struct CompiledSchemas(Mutex<HashMap<WorkflowId, (u64, Arc<InputSchema>)>>);

impl CompiledSchemas {
    /// The compiled schema `schema` of `workflow` as it is now.
    pub fn of(&self, workflow: &Workflow, schema: &Value) -> Result<Arc<InputSchema>, String> {
        let cached = |compiled: &HashMap<WorkflowId, (u64, Arc<InputSchema>)>| {
            compiled
                .get(&workflow.spec.id)
                .filter(|(version, _)| *version == workflow.version)
                .map(|(_, s)| Arc::clone(s))
        };
        if let Some(schema) = cached(&self.0.lock().expect("never poisoned: nothing panics while it is held")) {
            return Ok(schema);
        }
        let compiled = Arc::new(InputSchema::compile(schema)?);
        let mut all = self.0.lock().expect("never poisoned: nothing panics while it is held");
        all.insert(workflow.spec.id.clone(), (workflow.version, Arc::clone(&compiled)));
        Ok(compiled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_input_fails_at_its_first_bad_field_named_by_its_pointer() {
        let schema = InputSchema::compile(&json!({
            "type": "object",
            "required": ["prompt"],
            "properties": {"prompt": {"type": "string", "minLength": 1}, "size": {"enum": ["512", "1024"]}}
        }))
        .unwrap();
        assert_eq!(schema.refusal(&json!({"prompt": "a cat", "size": "512"})), None);
        assert_eq!(schema.refusal(&json!({"prompt": 7})).unwrap().pointer, "/prompt");
        assert_eq!(schema.refusal(&json!({"prompt": "a", "size": "2048"})).unwrap().pointer, "/size");
        assert_eq!(schema.refusal(&json!([])).unwrap().pointer, "");
        assert!(InputSchema::compile(&json!({"type": "no such type"})).is_err());
        assert!(InputSchema::compile(&json!({"minLength": -1})).is_err());
    }
}
