//! What a change touches and what a read depends on, in one vocabulary:
//! [`Scope`]s. A change-log row names the scopes it touched
//! ([`touched`]); a read names the scopes it read; a copy of a read (a
//! kept answer) holds while none of its scopes changed since it was read
//! ([`ChangeClock::unchanged_since`]).
//!
//! An entity's own row is one scope; the lists and counts hanging from a
//! parent are another (an agency's invitations, its members), so agency
//! B's dashboard is not touched by agency A's invitation, and a creator's
//! stats touch only the reads that showed that creator.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use uuid::Uuid;

use super::writes::ChangeKind;

/// Something a read depends on and a change may touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// A creator's row: profile, switch, stats.
    Creator(Uuid),
    /// An agency's row: profile, limits, verification.
    Agency(Uuid),
    /// An invitation's row.
    Invitation(Uuid),
    /// The creator's invitations: their lists and counts.
    CreatorInvitations(Uuid),
    /// The agency's invitations: their lists, counts and its quota.
    AgencyInvitations(Uuid),
    /// The agency the creator belongs to, if any.
    CreatorMembership(Uuid),
    /// The agency's members: their list and count.
    AgencyMembers(Uuid),
    /// Which creators exist (a lookup by handle that found none).
    Creators,
    /// Which agencies exist and what the directory lists.
    Agencies,
}

/// What one change-log row touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Touched {
    Scopes(Vec<Scope>),
    /// A row this version cannot place (an unknown kind, or written before
    /// rows named their agency): everything may have changed.
    Everything,
}

/// The scopes a change-log row touched.
pub fn touched(
    kind: Option<ChangeKind>,
    entity: Uuid,
    creator: Option<Uuid>,
    agency: Option<Uuid>,
) -> Touched {
    use ChangeKind as K;
    let Some(kind) = kind else {
        return Touched::Everything;
    };
    Touched::Scopes(match (kind, creator, agency) {
        (K::CreatorCreated, ..) => vec![Scope::Creator(entity), Scope::Creators],
        (K::CreatorProfile | K::CreatorDiscoverable | K::CreatorStats, ..) => {
            vec![Scope::Creator(entity)]
        }
        (K::AgencyCreated | K::AgencyUpdated, ..) => vec![Scope::Agency(entity), Scope::Agencies],
        (K::InvitationCreated | K::InvitationAnswered, Some(creator), Some(agency)) => vec![
            Scope::Invitation(entity),
            Scope::CreatorInvitations(creator),
            Scope::AgencyInvitations(agency),
        ],
        (K::MembershipCreated | K::MembershipEnded, Some(creator), Some(agency)) => vec![
            Scope::CreatorMembership(creator),
            Scope::AgencyMembers(agency),
        ],
        _ => return Touched::Everything,
    })
}

/// Buckets of the clock: a power of two. Scopes that share a bucket are
/// told apart by nothing, so a change to one drops reads of the other too
/// (never the reverse): at 2^20, a batch of 1,000 stats rows drops an
/// unrelated 30-scope answer about 3 % of the time, for 8 MiB.
const BUCKETS: usize = 1 << 20;

/// When each scope last changed, as [`super::index::RankingIndex::changes_seen`]
/// counts: scopes hashed into a fixed table, so it stays the same size
/// however many entities change.
pub struct ChangeClock {
    buckets: Box<[AtomicU64]>,
    /// The last time everything changed (a reload, a row this version
    /// cannot place).
    everything: AtomicU64,
}

impl Default for ChangeClock {
    fn default() -> Self {
        Self {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            everything: AtomicU64::new(0),
        }
    }
}

impl ChangeClock {
    fn bucket(&self, scope: &Scope) -> &AtomicU64 {
        // A fixed hasher: the same scope lands in the same bucket for the
        // life of the process.
        let mut hasher = DefaultHasher::new();
        scope.hash(&mut hasher);
        &self.buckets[hasher.finish() as usize & (BUCKETS - 1)]
    }

    /// `touched` changed at count `at`.
    pub fn tick(&self, touched: &Touched, at: u64) {
        match touched {
            Touched::Everything => {
                self.everything.fetch_max(at, Ordering::SeqCst);
            }
            Touched::Scopes(scopes) => {
                for scope in scopes {
                    self.bucket(scope).fetch_max(at, Ordering::SeqCst);
                }
            }
        }
    }

    /// Whether nothing in `scopes` changed after count `seen`.
    pub fn unchanged_since(&self, scopes: &[Scope], seen: u64) -> bool {
        self.everything.load(Ordering::SeqCst) <= seen
            && scopes
                .iter()
                .all(|s| self.bucket(s).load(Ordering::SeqCst) <= seen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn an_invitation_touches_its_row_and_both_parents_lists_only() {
        let Touched::Scopes(scopes) = touched(
            Some(ChangeKind::InvitationCreated),
            id(1),
            Some(id(2)),
            Some(id(3)),
        ) else {
            panic!("placed");
        };
        assert_eq!(
            scopes,
            [
                Scope::Invitation(id(1)),
                Scope::CreatorInvitations(id(2)),
                Scope::AgencyInvitations(id(3))
            ]
        );
        assert_eq!(
            touched(
                Some(ChangeKind::MembershipCreated),
                id(1),
                Some(id(2)),
                None
            ),
            Touched::Everything,
            "a row without its agency"
        );
        assert_eq!(touched(None, id(1), None, None), Touched::Everything);
    }

    #[test]
    fn a_read_holds_until_one_of_its_scopes_changes() {
        let clock = ChangeClock::default();
        let mine = [Scope::Agency(id(1)), Scope::AgencyInvitations(id(1))];
        clock.tick(&Touched::Scopes(vec![Scope::AgencyInvitations(id(2))]), 5);
        assert!(clock.unchanged_since(&mine, 4), "another agency's change");
        clock.tick(&Touched::Scopes(vec![Scope::AgencyInvitations(id(1))]), 6);
        assert!(!clock.unchanged_since(&mine, 5));
        assert!(clock.unchanged_since(&mine, 6), "read after it");
        clock.tick(&Touched::Everything, 7);
        assert!(!clock.unchanged_since(&[], 6));
        assert!(clock.unchanged_since(&mine, 7));
    }
}
