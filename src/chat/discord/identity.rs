//! Who a Discord user is on the platform: `[discord.users]` first, then the catalog User
//! whose `discord.com/user-id` annotation holds their id. Discord gives no verified email to
//! bots, so the mapping is explicit. Anyone else is `discord:<id>`: a name no catalog user has,
//! so they can ask questions but never request or confirm a change.

use std::collections::{BTreeMap, HashMap};

use crate::chat::UserRef;
use crate::config::DiscordId;
use crate::domain::{UserId, UserIdError};
use crate::platform::catalog::Catalog;

/// The catalog annotation that names a user's Discord account.
pub const USER_ID_ANNOTATION: &str = "discord.com/user-id";

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("catalog User {user}: annotation {USER_ID_ANNOTATION}: {reason}")]
    Annotation { user: UserId, reason: String },
    #[error("Discord user {id} is mapped to both {first} and {second}")]
    Twice {
        id: DiscordId,
        first: UserId,
        second: UserId,
    },
}

/// A Discord account as platbot sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Person {
    /// Mapped to a catalog (or `[discord.users]`) user.
    Mapped(UserRef),
    /// Not mapped: may read, not request or confirm changes.
    Unmapped(UserRef),
}

impl Person {
    pub fn user(&self) -> &UserRef {
        match self {
            Person::Mapped(u) | Person::Unmapped(u) => u,
        }
    }
}

pub struct DiscordIdentity {
    by_id: HashMap<u64, UserId>,
}

impl DiscordIdentity {
    /// Built once at start; a malformed annotation or an id mapped to two people stops it.
    pub fn new(
        configured: &BTreeMap<DiscordId, UserId>,
        catalog: &Catalog,
    ) -> Result<Self, IdentityError> {
        let mut by_id: HashMap<u64, UserId> = configured
            .iter()
            .map(|(id, user)| (id.get(), user.clone()))
            .collect();
        for user in catalog.users() {
            let Some(raw) = user.annotations.get(USER_ID_ANNOTATION) else {
                continue;
            };
            let id = DiscordId::parse(raw).map_err(|reason| IdentityError::Annotation {
                user: user.name.clone(),
                reason,
            })?;
            match by_id.get(&id.get()) {
                // `[discord.users]` wins over the catalog when both name the same person.
                Some(first) if configured.contains_key(&id) || *first == user.name => {}
                Some(first) => {
                    return Err(IdentityError::Twice {
                        id,
                        first: first.clone(),
                        second: user.name.clone(),
                    });
                }
                None => {
                    by_id.insert(id.get(), user.name.clone());
                }
            }
        }
        Ok(Self { by_id })
    }

    pub fn mapped(&self) -> usize {
        self.by_id.len()
    }

    /// The person behind a Discord user id. Fails only if `discord:<id>` were not a valid
    /// user id (digits always are).
    pub fn resolve(&self, discord_id: u64) -> Result<Person, UserIdError> {
        let display = Some(format!("<@{discord_id}>"));
        Ok(match self.by_id.get(&discord_id) {
            Some(id) => Person::Mapped(UserRef {
                id: id.clone(),
                display,
                via: None,
            }),
            None => Person::Unmapped(UserRef {
                id: UserId::parse(&format!("discord:{discord_id}"))?,
                display,
                via: None,
            }),
        })
    }
}

/// What an unmapped person is told, with the id to give the platform team.
pub fn mapping_hint(discord_id: u64) -> String {
    format!(
        "You're not mapped to a platform user yet, so I can answer questions but not take change requests or confirmations from you. Ask the platform team to add the annotation `{USER_ID_ANNOTATION}: \"{discord_id}\"` to your User in the catalog (or `\"{discord_id}\" = \"<your user>\"` under `[discord.users]` in platbot's config)."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const CATALOG: &str = "apiVersion: backstage.io/v1alpha1
kind: User
metadata:
  name: priya.nair
  annotations:
    discord.com/user-id: \"1100000000000000020\"
spec:
  profile: {displayName: Priya Nair, email: priya@example.com}
  memberOf: []
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata:
  name: jonah.feld
spec:
  memberOf: []
";

    #[test]
    fn annotation_and_table_map_and_everyone_else_is_unmapped() {
        let catalog = Catalog::from_yaml_str(CATALOG, "test").unwrap();
        let mut table = BTreeMap::new();
        table.insert(
            DiscordId::parse("1100000000000000030").unwrap(),
            UserId::parse("jonah.feld").unwrap(),
        );
        let ids = DiscordIdentity::new(&table, &catalog).unwrap();
        assert_eq!(ids.mapped(), 2);
        let name = |id| ids.resolve(id).unwrap().user().id.to_string();
        assert_eq!(name(1_100_000_000_000_000_020), "priya.nair");
        assert_eq!(name(1_100_000_000_000_000_030), "jonah.feld");
        assert!(matches!(ids.resolve(7).unwrap(), Person::Unmapped(_)));
        assert_eq!(name(7), "discord:7");
        assert!(mapping_hint(7).contains("discord.com/user-id: \"7\""));
    }

    #[test]
    fn bad_annotations_and_double_mappings_stop_the_start() {
        let bad = CATALOG.replace("\"1100000000000000020\"", "priya");
        let catalog = Catalog::from_yaml_str(&bad, "test").unwrap();
        let err = DiscordIdentity::new(&BTreeMap::new(), &catalog)
            .err()
            .unwrap();
        assert!(err.to_string().contains("priya.nair"), "{err}");
        let twice = CATALOG.replace(
            "  name: jonah.feld\n",
            "  name: jonah.feld\n  annotations:\n    discord.com/user-id: \"1100000000000000020\"\n",
        );
        let catalog = Catalog::from_yaml_str(&twice, "test").unwrap();
        let err = DiscordIdentity::new(&BTreeMap::new(), &catalog)
            .err()
            .unwrap();
        assert!(err.to_string().contains("both"), "{err}");
    }
}
