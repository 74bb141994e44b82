//! CRUD over the collections of the site config: tenants and DHCP scopes at the top, and per
//! tenant its extensions, devices, ring groups, trunks and routes.
//!
//! One generic set of handlers serves them all: each collection only says where its list lives
//! in the document and what its key is. A write edits the current document and applies it
//! whole, so a change that would break a reference (say, deleting an extension a ring group
//! still rings) is refused with the same reasons `outpost config apply` gives.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::auth::Admin;
use super::error::JsonBody;
use super::{ApiError, AppState};
use crate::site::{self, SiteDoc, Tenant};

trait Collection: 'static {
    type Item: Serialize + DeserializeOwned + Clone + Send + Sync + 'static;
    /// Singular, for messages: "extension".
    const NAME: &'static str;
    fn items<'a>(doc: &'a mut SiteDoc, tenant: Option<&str>) -> Result<&'a mut Vec<Self::Item>, ApiError>;
    fn key(item: &Self::Item) -> String;
    /// The canonical spelling of a key given in a path (MACs come in many spellings).
    fn canonical(key: &str) -> String {
        key.to_owned()
    }
    /// Hides secrets in answers to reads.
    fn redact(_item: &mut Self::Item) {}
    /// Whether the answer to a create shows the stored secret: only where the box may have
    /// generated it (an extension), never echoing a tenant's trunk passwords back.
    const SHOW_SECRET_ON_CREATE: bool = false;
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(collection::<Tenants>("/tenants"))
        .merge(collection::<DhcpScopes>("/dhcp-scopes"))
        .merge(collection::<Extensions>("/tenants/:tenant/extensions"))
        .merge(collection::<Devices>("/tenants/:tenant/devices"))
        .merge(collection::<RingGroups>("/tenants/:tenant/ring-groups"))
        .merge(collection::<Trunks>("/tenants/:tenant/trunks"))
        .merge(collection::<InboundRoutes>("/tenants/:tenant/inbound-routes"))
        .merge(collection::<OutboundRoutes>("/tenants/:tenant/outbound-routes"))
}

fn collection<C: Collection>(path: &str) -> Router<AppState> {
    Router::new()
        .route(path, get(list::<C>).post(create::<C>))
        .route(&format!("{path}/:key"), get(one::<C>).put(replace::<C>).delete(remove::<C>))
}

type Params = Option<Path<HashMap<String, String>>>;

fn param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params.as_ref().and_then(|Path(p)| p.get(name)).map(String::as_str)
}

async fn current(app: &AppState) -> Result<SiteDoc, ApiError> {
    Ok(app.store.call(|s| s.export_site()).await?)
}

async fn list<C: Collection>(
    State(app): State<AppState>,
    _: Admin,
    params: Params,
) -> Result<Json<Vec<C::Item>>, ApiError> {
    let mut doc = current(&app).await?;
    let mut items = C::items(&mut doc, param(&params, "tenant"))?.clone();
    items.iter_mut().for_each(C::redact);
    Ok(Json(items))
}

async fn one<C: Collection>(State(app): State<AppState>, _: Admin, params: Params) -> Result<Json<C::Item>, ApiError> {
    let mut doc = current(&app).await?;
    let mut item = find::<C>(&mut doc, &params)?.1.clone();
    C::redact(&mut item);
    Ok(Json(item))
}

/// The item a path names, with its index in its list.
fn find<'a, C: Collection>(doc: &'a mut SiteDoc, params: &Params) -> Result<(usize, &'a mut C::Item), ApiError> {
    let key = C::canonical(param(params, "key").unwrap_or_default());
    let items = C::items(doc, param(params, "tenant"))?;
    items
        .iter_mut()
        .enumerate()
        .find(|(_, item)| C::canonical(&C::key(item)) == key)
        .ok_or_else(|| ApiError::NotFound(format!("no {} `{key}`", C::NAME)))
}

/// Edits the current document and applies it; returns the document as stored.
pub(super) async fn write(
    app: &AppState,
    admin: &Admin,
    edit: impl FnOnce(&mut SiteDoc) -> Result<(), ApiError>,
) -> Result<SiteDoc, ApiError> {
    let _one_writer = app.writes.lock().await;
    let mut doc = current(app).await?;
    edit(&mut doc)?;
    let actor = format!("api:{}", admin.0.username);
    app.store.call(move |s| s.apply_site(doc, &actor)).await?;
    current(app).await
}

async fn create<C: Collection>(
    State(app): State<AppState>,
    admin: Admin,
    params: Params,
    JsonBody(item): JsonBody<C::Item>,
) -> Result<(StatusCode, Json<C::Item>), ApiError> {
    let key = C::canonical(&C::key(&item));
    let tenant = param(&params, "tenant").map(str::to_owned);
    let mut stored = write(&app, &admin, |doc| {
        let items = C::items(doc, tenant.as_deref())?;
        if items.iter().any(|i| C::canonical(&C::key(i)) == key) {
            return Err(ApiError::Conflict(format!("{} `{key}` already exists", C::NAME)));
        }
        items.push(item);
        Ok(())
    })
    .await?;
    let items = C::items(&mut stored, tenant.as_deref())?;
    let mut created = items
        .iter()
        .find(|i| C::canonical(&C::key(i)) == key)
        .cloned()
        .ok_or_else(|| ApiError::Internal("created item vanished".into()))?;
    if !C::SHOW_SECRET_ON_CREATE {
        C::redact(&mut created);
    }
    Ok((StatusCode::CREATED, Json(created)))
}

async fn replace<C: Collection>(
    State(app): State<AppState>,
    admin: Admin,
    params: Params,
    JsonBody(item): JsonBody<C::Item>,
) -> Result<Json<C::Item>, ApiError> {
    let key = C::canonical(param(&params, "key").unwrap_or_default());
    if C::canonical(&C::key(&item)) != key {
        return Err(ApiError::BadRequest(format!("the {} in the body is not `{key}` as in the path", C::NAME)));
    }
    let mut stored = write(&app, &admin, |doc| {
        *find::<C>(doc, &params)?.1 = item;
        Ok(())
    })
    .await?;
    let mut item = find::<C>(&mut stored, &params)?.1.clone();
    C::redact(&mut item);
    Ok(Json(item))
}

async fn remove<C: Collection>(
    State(app): State<AppState>,
    admin: Admin,
    params: Params,
) -> Result<StatusCode, ApiError> {
    write(&app, &admin, |doc| {
        let (index, _) = find::<C>(doc, &params)?;
        C::items(doc, param(&params, "tenant"))?.remove(index);
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

fn tenant<'a>(doc: &'a mut SiteDoc, name: Option<&str>) -> Result<&'a mut Tenant, ApiError> {
    let name = name.unwrap_or_default();
    doc.tenants.iter_mut().find(|t| t.name == name).ok_or_else(|| ApiError::NotFound(format!("no tenant `{name}`")))
}

struct Tenants;
impl Collection for Tenants {
    type Item = Tenant;
    const NAME: &'static str = "tenant";
    fn items<'a>(doc: &'a mut SiteDoc, _: Option<&str>) -> Result<&'a mut Vec<Tenant>, ApiError> {
        Ok(&mut doc.tenants)
    }
    fn key(item: &Tenant) -> String {
        item.name.clone()
    }
    fn redact(item: &mut Tenant) {
        item.extensions.iter_mut().for_each(Extensions::redact);
        item.trunks.iter_mut().for_each(Trunks::redact);
    }
}

struct DhcpScopes;
impl Collection for DhcpScopes {
    type Item = site::DhcpScope;
    const NAME: &'static str = "DHCP scope";
    fn items<'a>(doc: &'a mut SiteDoc, _: Option<&str>) -> Result<&'a mut Vec<Self::Item>, ApiError> {
        Ok(&mut doc.dhcp_scopes)
    }
    fn key(item: &Self::Item) -> String {
        item.name.clone()
    }
}

/// A collection that lives inside a tenant; `$field` is its list, `$key` its key field.
macro_rules! tenant_collection {
    ($ty:ident, $item:ty, $name:literal, $field:ident, $key:ident) => {
        struct $ty;
        impl Collection for $ty {
            type Item = $item;
            const NAME: &'static str = $name;
            fn items<'a>(doc: &'a mut SiteDoc, t: Option<&str>) -> Result<&'a mut Vec<$item>, ApiError> {
                Ok(&mut tenant(doc, t)?.$field)
            }
            fn key(item: &$item) -> String {
                item.$key.clone()
            }
            tenant_collection!(@extra $ty);
        }
    };
    (@extra Extensions) => {
        fn redact(item: &mut site::Extension) {
            item.secret = None;
        }
        // A generated secret is shown this once.
        const SHOW_SECRET_ON_CREATE: bool = true;
    };
    (@extra Trunks) => {
        fn redact(item: &mut site::Trunk) {
            item.secret = None;
        }
    };
    (@extra Devices) => {
        fn canonical(key: &str) -> String {
            site::normalize_mac(key).unwrap_or_else(|| key.to_owned())
        }
    };
    (@extra $other:ident) => {};
}

tenant_collection!(Extensions, site::Extension, "extension", extensions, number);
tenant_collection!(Devices, site::Device, "device", devices, mac);
tenant_collection!(RingGroups, site::RingGroup, "ring group", ring_groups, number);
tenant_collection!(Trunks, site::Trunk, "trunk", trunks, name);
tenant_collection!(InboundRoutes, site::InboundRoute, "inbound route", inbound_routes, did);
tenant_collection!(OutboundRoutes, site::OutboundRoute, "outbound route", outbound_routes, name);
