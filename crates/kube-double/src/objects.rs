//! The object store behind the Kubernetes API double, one concept per module: the
//! resource table, `Status` bodies, validation, selectors, patch semantics, the store
//! itself and what a write does beyond its body.
//!
//! Everything here is synchronous and knows nothing about HTTP, so it can be unit tested
//! directly; `api.rs` maps requests onto [`Store`].

mod logs;
mod meta;
mod patch;
mod selectors;
mod status;
mod store;
mod table;
mod validate;
mod writes;

#[cfg(test)]
mod tests;

pub(crate) use meta::meta_str;
pub(crate) use patch::PatchType;
pub(crate) use selectors::{FieldSelector, LabelSelector};
pub use status::ApiError;
pub(crate) use store::{DeleteOptions, Store, Subresource, WriteOptions};
pub(crate) use table::{
    RESOURCES, ResourceType, group_version, group_versions, resource_for_kind, resource_for_path,
};
pub(crate) use writes::apply_patch;
