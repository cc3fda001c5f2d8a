use super::*;

fn sandbox() -> Catalog {
    Catalog::sandbox()
}

fn svc(r: Resolved<&Service>) -> Resolved<String> {
    r.map(|s| s.name.to_string())
}

fn team(r: Resolved<&Team>) -> Resolved<String> {
    r.map(|t| t.name.to_string())
}

#[test]
fn catalog_is_cheap_to_share() {
    fn shared<T: Clone + Send + Sync>() {}
    shared::<Catalog>();
}

#[test]
fn sandbox_catalog_loads_every_entity() {
    let c = sandbox();
    assert_eq!(c.teams().count(), 6);
    assert_eq!(c.services().count(), 15);
    assert_eq!(c.users().count(), 19);
    let pay = c.service("payments-api").unwrap();
    assert_eq!(pay.title, "Payments API");
    assert_eq!(pay.owner.as_str(), "payments");
    assert_eq!(pay.kubernetes_id, "payments-api");
    assert_eq!(pay.namespace_pattern, "{team}-{env}");
    assert_eq!(pay.tags, ["java", "grpc", "pci"]);
    assert_eq!(
        pay.annotations.get("argocd/app-name").map(String::as_str),
        Some("payments-api")
    );
    let dp = c.team("Data-Platform").unwrap();
    assert_eq!(dp.title, "Data Platform");
    assert_eq!(dp.email.as_deref(), Some("team-data-platform@example.com"));
    assert_eq!(dp.members.len(), 4);
    let priya = c.user("priya.nair").unwrap();
    assert_eq!(priya.display_name.as_deref(), Some("Priya Nair"));
}

#[test]
fn namespace_fills_team_and_environment() {
    let c = sandbox();
    let cart = c.service("cart").unwrap();
    let prod = Environment::parse("production").unwrap();
    assert_eq!(
        c.namespace_of(cart, &prod).unwrap().as_str(),
        "checkout-prod"
    );
}

#[test]
fn teams_of_combines_members_and_member_of() {
    let src = r#"
kind: Group
metadata: {name: payments}
spec: {members: ["user:default/priya.nair"]}
---
kind: Group
metadata: {name: sre}
---
kind: User
metadata: {name: priya.nair}
spec: {memberOf: ["group:default/sre"]}
"#;
    let c = Catalog::from_yaml_str(src, "t.yaml").unwrap();
    let priya = UserId::parse("priya.nair").unwrap();
    let teams: Vec<String> = c.teams_of(&priya).iter().map(ToString::to_string).collect();
    assert_eq!(teams, ["payments", "sre"]);
}

#[test]
fn unknown_kinds_and_empty_documents_are_skipped() {
    let src = "---\nkind: System\nmetadata: {name: shop}\n---\n---\nversion: 1\nschedules: {}\n---\nkind: Group\nmetadata: {name: sre}\n";
    let c = Catalog::from_yaml_str(src, "x.yaml").unwrap();
    assert_eq!(c.teams().count(), 1);
}

#[test]
fn malformed_entities_name_origin_document_and_field() {
    let cases = [
        (
            "kind: Group\nmetadata: {name: Payments Team}\n",
            "metadata.name",
        ),
        (
            "kind: Component\nmetadata: {name: cart}\nspec: {type: service}\n",
            "spec.owner",
        ),
        (
            "kind: Component\nmetadata: {name: cart}\nspec: {owner: user:bob}\n",
            "spec.owner",
        ),
        (
            "kind: Group\nmetadata: {name: a}\nspec: {members: 7}\n",
            "spec",
        ),
        (
            "kind: Group\nmetadata: {name: a}\nspec: {members: [\"has space\"]}\n",
            "spec.members[0]",
        ),
        ("metadata: {name: a}\n", "kind"),
    ];
    for (body, field) in cases {
        let src = format!("kind: Group\nmetadata: {{name: ok}}\n---\n{body}");
        let err = Catalog::from_yaml_str(&src, "cat.yaml").unwrap_err();
        match &err {
            CatalogError::Entity(e) => {
                assert_eq!(e.origin, "cat.yaml");
                assert_eq!(e.document, 2, "{err}");
                assert_eq!(e.field, field, "{err}");
            }
            other => panic!("unexpected {other}"),
        }
        assert!(
            err.to_string().starts_with("cat.yaml, document 2:"),
            "{err}"
        );
    }
}

#[test]
fn broken_yaml_is_a_syntax_error() {
    let err = Catalog::from_yaml_str("kind: Group\nmetadata: [unclosed\n", "bad.yaml").unwrap_err();
    assert!(
        matches!(err, CatalogError::Syntax { document: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("bad.yaml"));
}

#[test]
fn load_reads_folders_recursively_and_later_entities_win() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("b");
    std::fs::create_dir(&nested).unwrap();
    std::fs::write(
        dir.path().join("a.yaml"),
        "kind: Group\nmetadata: {name: sre, title: Old}\n",
    )
    .unwrap();
    std::fs::write(
        nested.join("c.yml"),
        "kind: Group\nmetadata: {name: sre, title: New}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not yaml: [").unwrap();
    let c = Catalog::load(&[dir.path().to_owned()]).unwrap();
    assert_eq!(c.team("sre").unwrap().title, "New");
    let missing = Catalog::load(&[dir.path().join("nope")]).unwrap_err();
    assert!(matches!(missing, CatalogError::Io { .. }));
}

#[test]
fn services_resolve_from_names_titles_and_phrases() {
    let c = sandbox();
    for (text, want) in [
        ("payments api", "payments-api"),
        ("Payments API", "payments-api"),
        ("the mobile bff", "mobile-bff"),
        ("cart", "cart"),
        ("the cart service", "cart"),
        ("Feature Store", "feature-store"),
    ] {
        assert_eq!(
            svc(c.resolve_service(text)),
            Resolved::Exact(want.to_owned()),
            "{text}"
        );
    }
}

#[test]
fn typos_and_partial_names_resolve_fuzzily() {
    let c = sandbox();
    for (text, want) in [
        ("checkout-apy", "checkout-api"),
        ("recomendations", "recommendations"),
        ("paymnets api", "payments-api"),
        ("payments", "payments-api"),
        ("fraud", "fraud-scoring-worker"),
    ] {
        assert_eq!(
            svc(c.resolve_service(text)),
            Resolved::Fuzzy(want.to_owned()),
            "{text}"
        );
    }
    assert_eq!(svc(c.resolve_service("kubernetes")), Resolved::NotFound);
}

#[test]
fn several_equally_good_matches_are_ambiguous() {
    let c = sandbox();
    let api = svc(c.resolve_service("api"));
    assert_eq!(
        api,
        Resolved::Ambiguous(vec!["checkout-api".into(), "payments-api".into()])
    );
    // A team with several services, named where a service is needed.
    let identity = svc(c.resolve_service("identity"));
    assert_eq!(
        identity,
        Resolved::Ambiguous(vec!["auth-gateway".into(), "user-profile".into()])
    );
}

#[test]
fn teams_resolve_from_phrases() {
    let c = sandbox();
    for text in [
        "data platform",
        "the data-platform folks",
        "Data Platform team",
    ] {
        assert_eq!(
            team(c.resolve_team(text)),
            Resolved::Exact("data-platform".into()),
            "{text}"
        );
    }
    assert_eq!(
        team(c.resolve_team("mobile backend")),
        Resolved::Exact("mobile-backend".into())
    );
    assert_eq!(
        team(c.resolve_team("the search team")),
        Resolved::Exact("search".into())
    );
    assert_eq!(
        team(c.resolve_team("identiy")),
        Resolved::Fuzzy("identity".into())
    );
    assert_eq!(team(c.resolve_team("marketing")), Resolved::NotFound);
}

#[test]
fn a_kubernetes_id_that_is_no_object_name_is_refused() {
    for bad in ["cart/../../secrets", "Cart", "cart,app!=x", "-cart", "a b"] {
        let yaml = format!(
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: cart\n  annotations:\n    backstage.io/kubernetes-id: \"{bad}\"\nspec:\n  owner: group:checkout\n"
        );
        let err = Catalog::from_yaml_str(&yaml, "test")
            .unwrap_err()
            .to_string();
        assert!(err.contains("kubernetes-id"), "{bad}: {err}");
    }
}
