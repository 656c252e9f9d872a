//! Every JSON body the server deserializes: the request bodies of the client, lease and
//! admin APIs (as `ApiJson` reads them) and the records it reads back from redb.
#![no_main]
use licet_server::{model, routes};
use serde_json::from_slice as json;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = json::<routes::client::ValidateReq>(data);
    let _ = json::<routes::client::ActivateReq>(data);
    let _ = json::<routes::client::CheckInReq>(data);
    let _ = json::<routes::leases::ObtainReq>(data);
    let _ = json::<routes::leases::RenewReq>(data);
    let _ = json::<routes::leases::TokenReq>(data);
    let _ = json::<routes::admin::ProductReq>(data);
    let _ = json::<routes::admin::ProductPatch>(data);
    let _ = json::<routes::admin::LicenseReq>(data);
    let _ = json::<routes::admin::LicensePatch>(data);
    let _ = json::<routes::admin::BulkReq>(data);
    let _ = json::<model::Product>(data);
    let _ = json::<model::License>(data);
    let _ = json::<model::Machine>(data);
    let _ = json::<model::AuditEvent>(data);
    let _ = json::<model::Lease>(data);
});
