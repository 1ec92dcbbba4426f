//! `invitationEvents`: every state change of the invitations the viewer may
//! see (their own as creator or agency; admins: all).

use async_graphql::{Context, Enum, Object, Subscription};
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt, stream};
use tokio::sync::broadcast::error::RecvError;

use super::domain;
use super::error::GqlResultExt;
use super::invitation::Invitation;
use crate::domain::invitations;
use crate::events::{self, EventKind};

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "EventKind")]
pub enum InvitationEventKind {
    Created,
    Accepted,
    Declined,
    Withdrawn,
    Expired,
    Cancelled,
}

pub struct InvitationEvent(std::sync::Arc<events::InvitationEvent>);

/// A state change of an invitation, with the invitation as it became.
#[Object]
impl InvitationEvent {
    async fn kind(&self) -> InvitationEventKind {
        self.0.kind.into()
    }

    async fn invitation(&self) -> Invitation {
        Invitation(self.0.invitation.clone())
    }

    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
}

pub struct SubscriptionRoot;

#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// Every state change of an invitation, delivered to its creator and
    /// its agency (admins: all).
    async fn invitation_events(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = InvitationEvent> + use<>> {
        let viewer = super::viewer(ctx).clone();
        viewer.require_signed_in_reader().gql()?;
        let receiver = domain(ctx).events.subscribe();
        // A subscriber that falls more than the buffer behind skips ahead
        // rather than holding memory or slowing publishers.
        let events = stream::unfold(receiver, |mut receiver| async move {
            loop {
                match receiver.recv().await {
                    Ok(event) => return Some((event, receiver)),
                    Err(RecvError::Lagged(skipped)) => {
                        tracing::warn!(skipped, "a slow subscriber skipped invitation events");
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        });
        Ok(events
            .filter(move |event| {
                std::future::ready(invitations::visible_to(&viewer, &event.invitation))
            })
            .map(InvitationEvent))
    }
}
