use super::config::missing_from_message;
use super::*;

#[test]
fn memory_suggestions_show_their_arithmetic() {
    let mib = 1024 * 1024;
    let (m, why) = suggest_memory(256 * mib, Some(jiff::SignedDuration::from_mins(27)));
    assert_eq!(m, 384);
    assert!(why.contains("1.5 x 256Mi = 384Mi"), "{why}");
    let (m, why) = suggest_memory(256 * mib, Some(jiff::SignedDuration::from_secs(8)));
    assert_eq!(m, 512);
    assert!(why.contains("2 x 256Mi = 512Mi"), "{why}");
    let (m, why) = suggest_memory(6 * 1024 * mib, None);
    assert_eq!(m, 9216);
    assert!(why.contains("not recorded"), "{why}");
    let (m, why) = suggest_memory(700 * mib, None);
    assert_eq!(m, 1152, "{why}");
}

#[test]
fn missing_objects_are_read_from_kubelet_messages() {
    assert_eq!(
        missing_from_message("couldn't find key DB_PASSWORD in Secret payments-staging/db-creds")
            .as_deref(),
        Some("key `DB_PASSWORD` of Secret db-creds")
    );
    assert_eq!(
        missing_from_message("secret \"db-creds\" not found").as_deref(),
        Some("Secret db-creds")
    );
    assert_eq!(
        missing_from_message("configmap \"app\" not found").as_deref(),
        Some("ConfigMap app")
    );
    assert_eq!(missing_from_message("something else"), None);
}
