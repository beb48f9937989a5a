//! `GET /api/openapi.json`: the hand-written OpenAPI 3.0 document
//! (`crates/server/openapi.json`), checked against [`super::routes`] by a test.

use axum::http::header;
use axum::response::IntoResponse;

/// The document, as shipped in the binary.
pub const DOCUMENT: &str = include_str!("../../openapi.json");

/// The document, for any logged-in user (it is no secret, but only `/healthz` is open).
pub async fn document(_auth: super::Auth) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn document_describes_exactly_the_routes() {
        let doc: Value = serde_json::from_str(DOCUMENT).expect("openapi.json parses");
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.0"));
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        let paths = doc["paths"].as_object().unwrap();
        let routes = crate::http::routes();
        for r in &routes {
            let op = &paths
                .get(r.path)
                .unwrap_or_else(|| panic!("openapi.json lacks path {}", r.path))[r.method];
            assert!(op.is_object(), "openapi.json lacks {} {}", r.method, r.path);
            assert!(op["responses"].is_object(), "{} {}", r.method, r.path);
            let secured = op["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|x| x.get("bearer").is_some()));
            assert_eq!(
                secured, r.authenticated,
                "{} {}: security in openapi.json",
                r.method, r.path
            );
            if r.authenticated {
                assert!(
                    op["responses"]["401"].is_object(),
                    "{} {} documents no 401",
                    r.method,
                    r.path
                );
            }
        }
        for (path, item) in paths {
            for method in item.as_object().unwrap().keys() {
                assert!(
                    routes.iter().any(|r| r.path == path && r.method == method),
                    "openapi.json documents {method} {path}, which the router lacks"
                );
            }
        }
        // Every $ref points at a schema that exists.
        let text = DOCUMENT;
        for part in text.split("\"$ref\": \"#/components/schemas/").skip(1) {
            let name = &part[..part.find('"').unwrap()];
            assert!(
                doc["components"]["schemas"][name].is_object(),
                "missing schema {name}"
            );
        }
        // Transition actions and search parameters are all documented.
        let actions = &doc["components"]["schemas"]["Transition"]["properties"]["action"]["enum"];
        for (a, _) in crate::http::cases::ACTIONS {
            assert!(
                actions.as_array().unwrap().iter().any(|x| x == a),
                "action {a} not in Transition.action.enum"
            );
        }
        let params = doc["paths"]["/api/cases"]["get"]["parameters"]
            .as_array()
            .unwrap();
        for p in crate::http::cases::SEARCH_PARAMS {
            assert!(
                params.iter().any(|x| x["name"] == *p),
                "search parameter {p} undocumented"
            );
        }
    }
}
