//! The one pagination, sorting and filtering convention of the API:
//! `?page=1&per_page=20&sort=name,-created_at` plus named filter parameters per
//! resource. `page` is 1-based, `per_page` at most 200; `sort` is a comma-separated
//! list of whitelisted fields, `-` for descending. Responses are [`Page`].

use jiayou_domain::{FieldError, FieldErrorKind};
use sea_orm::{ConnectionTrait, EntityTrait, FromQueryResult, Order, PaginatorTrait, QueryOrder, Select};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppResult;

pub const MAX_PER_PAGE: u64 = 200;

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageRequest {
    /// 1-based page number (default 1).
    pub page: Option<u64>,
    /// Items per page, 1–200 (default 20).
    pub per_page: Option<u64>,
    /// Comma-separated fields, `-` prefix for descending, e.g. `-created_at,name`.
    pub sort: Option<String>,
}

/// A validated page request.
#[derive(Debug, Clone, PartialEq)]
pub struct Paging {
    pub page: u64,
    pub per_page: u64,
    pub sort: Vec<(String, Order)>,
}

impl PageRequest {
    /// Validates page bounds and that every sort field is one of `allowed`.
    pub fn validate(&self, allowed: &[&str]) -> Result<Paging, Vec<FieldError>> {
        let mut errors = Vec::new();
        let page = self.page.unwrap_or(1);
        if page == 0 {
            errors.push(FieldError::new(
                "page",
                FieldErrorKind::OutOfRange { min: "1".into(), max: u64::MAX.to_string() },
            ));
        }
        let per_page = self.per_page.unwrap_or(20);
        if per_page == 0 || per_page > MAX_PER_PAGE {
            errors.push(FieldError::new(
                "per_page",
                FieldErrorKind::OutOfRange { min: "1".into(), max: MAX_PER_PAGE.to_string() },
            ));
        }
        let mut sort = Vec::new();
        for part in self.sort.as_deref().unwrap_or("").split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, order) = match part.strip_prefix('-') {
                Some(n) => (n, Order::Desc),
                None => (part.strip_prefix('+').unwrap_or(part), Order::Asc),
            };
            if allowed.contains(&name) {
                sort.push((name.to_owned(), order));
            } else {
                errors.push(jiayou_domain::field::unknown_value("sort", allowed));
                break;
            }
        }
        if errors.is_empty() { Ok(Paging { page, per_page, sort }) } else { Err(errors) }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page: u64,
    pub per_page: u64,
    /// Number of items matching the filter, over all pages.
    pub total: u64,
}

impl<T> Page<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            page: self.page,
            per_page: self.per_page,
            total: self.total,
        }
    }
}

/// Runs `query` with the sort of `paging` (mapped to columns by `column`), then the
/// stable tie-breaker `id`, and fetches one page plus the total.
pub async fn fetch<E, C>(
    conn: &C,
    mut query: Select<E>,
    paging: &Paging,
    column: impl Fn(&str) -> E::Column,
    id: E::Column,
) -> AppResult<Page<E::Model>>
where
    E: EntityTrait,
    E::Model: FromQueryResult + Send + Sync,
    C: ConnectionTrait,
{
    for (name, order) in &paging.sort {
        query = query.order_by(column(name), order.clone());
    }
    query = query.order_by(id, Order::Asc);
    let paginator = query.paginate(conn, paging.per_page);
    let total = paginator.num_items().await?;
    let items = paginator.fetch_page(paging.page - 1).await?;
    Ok(Page { items, page: paging.page, per_page: paging.per_page, total })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sort_and_defaults() {
        let p = PageRequest { page: None, per_page: None, sort: Some("-created_at, name".into()) }
            .validate(&["name", "created_at"])
            .unwrap();
        assert_eq!(p.page, 1);
        assert_eq!(p.per_page, 20);
        assert_eq!(p.sort, vec![("created_at".into(), Order::Desc), ("name".into(), Order::Asc)]);
    }

    #[test]
    fn refuses_unknown_sort_and_bad_bounds() {
        let errs = PageRequest { page: Some(0), per_page: Some(500), sort: Some("password".into()) }
            .validate(&["name"])
            .unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_ref()).collect();
        assert_eq!(fields, vec!["page", "per_page", "sort"]);
    }
}
