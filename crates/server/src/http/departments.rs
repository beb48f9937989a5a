//! Departments (network units, 承办单位): the tree, and adding one (admins only).

use super::auth::Auth;
use super::error::{ApiError, Body};
use super::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use hotline_case::{Department, NewDepartment};
use serde::Deserialize;
use serde_json::{json, Value};

/// `GET /api/departments`: the level 1 units, each with its `children`, recursively.
pub async fn tree(State(s): State<AppState>, _auth: Auth) -> Result<Response, ApiError> {
    let all = s.calls.ctx.store.departments().await?;
    Ok(Json(json!({ "departments": nest(&all, None) })).into_response())
}

/// The units whose parent is `parent`, each with its subtree.
fn nest(all: &[Department], parent: Option<&str>) -> Vec<Value> {
    all.iter()
        .filter(|d| d.parent.as_deref() == parent)
        .map(|d| {
            let mut v = serde_json::to_value(d).unwrap_or_default();
            v["children"] = Value::Array(nest(all, Some(&d.code)));
            v
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddDepartment {
    code: String,
    name: String,
    level: u8,
    #[serde(default)]
    parent: Option<String>,
}

/// `POST /api/departments` (admin): 201 with the department.
pub async fn add(
    State(s): State<AppState>,
    auth: Auth,
    Body(b): Body<AddDepartment>,
) -> Result<Response, ApiError> {
    auth.require_admin()?;
    let d = s
        .calls
        .ctx
        .store
        .add_department(
            NewDepartment {
                code: b.code,
                name: b.name,
                parent: b.parent,
                level: b.level,
            },
            chrono::Utc::now(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(d)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotline_case::DepartmentId;

    fn d(code: &str, parent: Option<&str>, level: u8) -> Department {
        Department {
            id: DepartmentId(0),
            code: code.into(),
            name: code.into(),
            parent: parent.map(Into::into),
            level,
            active: true,
        }
    }

    #[test]
    fn departments_nest_by_parent() {
        let all = [
            d("a", None, 1),
            d("a.x", Some("a"), 2),
            d("a.x.1", Some("a.x"), 3),
            d("b", None, 1),
        ];
        let t = nest(&all, None);
        assert_eq!(t.len(), 2);
        assert_eq!(t[0]["children"][0]["children"][0]["code"], "a.x.1");
        assert_eq!(t[1]["children"], json!([]));
    }
}
