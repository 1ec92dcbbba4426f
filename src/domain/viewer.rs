//! Who is asking: the principal of a verified token and its scopes.

use uuid::Uuid;

use super::{DomainError, DomainResult};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Principal {
    Anonymous,
    Creator(Uuid),
    Agency(Uuid),
    Admin(String),
}

impl Principal {
    /// The token subject naming this principal (`creator:<uuid>`,
    /// `agency:<uuid>`, `admin:<name>`; `anonymous` has no token).
    pub fn subject(&self) -> String {
        match self {
            Principal::Creator(id) => format!("creator:{id}"),
            Principal::Agency(id) => format!("agency:{id}"),
            Principal::Admin(name) => format!("admin:{name}"),
            Principal::Anonymous => "anonymous".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Anonymous,
    Creator,
    Agency,
    Admin,
}

/// Scopes of a partner token. A token without scopes may do everything its
/// role allows; a scoped token only what its scopes name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Scopes {
    pub read: bool,
    pub write: bool,
    pub ingest: bool,
}

impl Scopes {
    /// Parses a space-separated `scope` claim; unknown words are an error so
    /// a typo never silently widens or narrows a partner's rights.
    pub fn parse(claim: &str) -> Result<Self, String> {
        let mut scopes = Self::default();
        for word in claim.split_whitespace() {
            match word {
                "read" => scopes.read = true,
                "write" => scopes.write = true,
                "ingest" => scopes.ingest = true,
                other => return Err(format!("unknown scope {other:?}")),
            }
        }
        Ok(scopes)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Viewer {
    pub principal: Principal,
    pub scopes: Option<Scopes>,
}

impl Viewer {
    pub const ANONYMOUS: Viewer = Viewer {
        principal: Principal::Anonymous,
        scopes: None,
    };

    pub fn new(principal: Principal, scopes: Option<Scopes>) -> Self {
        Self { principal, scopes }
    }

    pub fn role(&self) -> Role {
        match self.principal {
            Principal::Anonymous => Role::Anonymous,
            Principal::Creator(_) => Role::Creator,
            Principal::Agency(_) => Role::Agency,
            Principal::Admin(_) => Role::Admin,
        }
    }

    pub fn is_admin(&self) -> bool {
        matches!(self.principal, Principal::Admin(_))
    }

    pub fn creator_id(&self) -> Option<Uuid> {
        match self.principal {
            Principal::Creator(id) => Some(id),
            _ => None,
        }
    }

    pub fn agency_id(&self) -> Option<Uuid> {
        match self.principal {
            Principal::Agency(id) => Some(id),
            _ => None,
        }
    }

    /// Queries and subscriptions.
    pub fn require_read(&self) -> DomainResult<()> {
        match self.scopes {
            Some(s) if !s.read => Err(DomainError::forbidden(
                "this token's scope does not include read",
            )),
            _ => Ok(()),
        }
    }

    /// Subscriptions: a signed-in viewer whose token may read.
    pub fn require_signed_in_reader(&self) -> DomainResult<()> {
        self.require_read()?;
        if self.principal == Principal::Anonymous {
            return Err(DomainError::Unauthenticated);
        }
        Ok(())
    }

    /// The role's mutations (everything but stats ingestion).
    pub fn require_write(&self) -> DomainResult<()> {
        if self.principal == Principal::Anonymous {
            return Err(DomainError::Unauthenticated);
        }
        match self.scopes {
            Some(s) if !s.write => Err(DomainError::forbidden(
                "this token's scope does not include write",
            )),
            _ => Ok(()),
        }
    }

    /// Admin-only mutations.
    pub fn require_admin(&self) -> DomainResult<()> {
        self.require_write()?;
        if self.is_admin() {
            Ok(())
        } else {
            Err(DomainError::forbidden("admins only"))
        }
    }

    /// Whom a mutation acts for. Creators and agencies act for themselves
    /// (naming anyone else is FORBIDDEN); admins must name the target (a
    /// missing or unreadable id is INVALID_INPUT at `field`); other roles
    /// are FORBIDDEN.
    pub fn acting_for(
        &self,
        role: Role,
        named: Option<Result<Uuid, String>>,
        field: &[&str],
    ) -> DomainResult<Uuid> {
        let own = match (role, &self.principal) {
            (_, Principal::Anonymous) => return Err(DomainError::Unauthenticated),
            (_, Principal::Admin(_)) => None,
            (Role::Creator, Principal::Creator(id)) | (Role::Agency, Principal::Agency(id)) => {
                Some(*id)
            }
            _ => {
                let whom = if role == Role::Agency {
                    "agencies"
                } else {
                    "creators"
                };
                return Err(DomainError::forbidden(format!(
                    "only {whom} and admins may do this"
                )));
            }
        };
        let name = field.last().copied().unwrap_or("id");
        match (own, named) {
            (Some(own), None) => Ok(own),
            (Some(own), Some(Ok(id))) if id == own => Ok(own),
            (Some(_), Some(_)) => Err(DomainError::forbidden(format!("{name} is for admins only"))),
            (None, Some(Ok(id))) => Ok(id),
            (None, Some(Err(msg))) => {
                Err(DomainError::refused(super::Refusal::invalid(field, msg)))
            }
            (None, None) => Err(DomainError::refused(super::Refusal::invalid(
                field,
                format!("admins must pass {name}"),
            ))),
        }
    }

    /// Reads reserved to one agency: the agency itself and admins.
    pub fn require_agency(&self, agency_id: Uuid) -> DomainResult<()> {
        self.require_read()?;
        match self.principal {
            Principal::Admin(_) => Ok(()),
            Principal::Agency(own) if own == agency_id => Ok(()),
            Principal::Anonymous => Err(DomainError::Unauthenticated),
            _ => Err(DomainError::forbidden("the agency itself and admins only")),
        }
    }

    /// Reads reserved to one creator: the creator themself and admins.
    pub fn require_creator(&self, creator_id: Uuid) -> DomainResult<()> {
        self.require_read()?;
        match self.principal {
            Principal::Admin(_) => Ok(()),
            Principal::Creator(own) if own == creator_id => Ok(()),
            Principal::Anonymous => Err(DomainError::Unauthenticated),
            _ => Err(DomainError::forbidden(
                "the creator themself and admins only",
            )),
        }
    }

    /// `upsertCreatorStats`: any token with scope `ingest`, or an admin
    /// allowed to write.
    pub fn require_ingest(&self) -> DomainResult<()> {
        if self.scopes.is_some_and(|s| s.ingest) {
            return Ok(());
        }
        self.require_admin().map_err(|e| match e {
            DomainError::Forbidden(_) => DomainError::forbidden(
                "stats ingestion needs an admin or a token with scope ingest",
            ),
            other => other,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unscoped_tokens_have_their_roles_rights() {
        let admin = Viewer::new(Principal::Admin("ops".into()), None);
        assert!(admin.require_read().is_ok());
        assert!(admin.require_admin().is_ok());
        assert!(admin.require_ingest().is_ok());
        let creator = Viewer::new(Principal::Creator(Uuid::nil()), None);
        assert!(creator.require_write().is_ok());
        assert!(matches!(
            creator.require_admin(),
            Err(DomainError::Forbidden(_))
        ));
        assert!(matches!(
            Viewer::ANONYMOUS.require_write(),
            Err(DomainError::Unauthenticated)
        ));
    }

    #[test]
    fn scopes_narrow_what_a_token_may_do() {
        let ingest_only = Viewer::new(
            Principal::Agency(Uuid::nil()),
            Some(Scopes::parse("ingest").unwrap()),
        );
        assert!(ingest_only.require_ingest().is_ok());
        assert!(ingest_only.require_read().is_err());
        assert!(ingest_only.require_write().is_err());
        let read_admin = Viewer::new(
            Principal::Admin("ops".into()),
            Some(Scopes::parse("read").unwrap()),
        );
        assert!(read_admin.require_read().is_ok());
        assert!(read_admin.require_admin().is_err());
        assert!(read_admin.require_ingest().is_err());
        assert!(Scopes::parse("read admin").is_err());
    }

    #[test]
    fn acting_for_names_the_target_of_a_mutation() {
        let me = Uuid::now_v7();
        let other = Uuid::now_v7();
        let field = ["input", "agencyId"];
        let agency = Viewer::new(Principal::Agency(me), None);
        assert_eq!(agency.acting_for(Role::Agency, None, &field).unwrap(), me);
        assert_eq!(
            agency
                .acting_for(Role::Agency, Some(Ok(me)), &field)
                .unwrap(),
            me
        );
        assert!(matches!(
            agency.acting_for(Role::Agency, Some(Ok(other)), &field),
            Err(DomainError::Forbidden(_))
        ));
        assert!(matches!(
            agency.acting_for(Role::Creator, None, &field),
            Err(DomainError::Forbidden(_))
        ));
        let admin = Viewer::new(Principal::Admin("ops".into()), None);
        assert_eq!(
            admin
                .acting_for(Role::Agency, Some(Ok(other)), &field)
                .unwrap(),
            other
        );
        assert!(matches!(
            admin.acting_for(Role::Agency, None, &field),
            Err(DomainError::Refused(_))
        ));
        assert!(matches!(
            admin.acting_for(Role::Agency, Some(Err("bad".into())), &field),
            Err(DomainError::Refused(_))
        ));
        assert!(matches!(
            Viewer::ANONYMOUS.acting_for(Role::Creator, None, &field),
            Err(DomainError::Unauthenticated)
        ));
    }
}
