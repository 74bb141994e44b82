//! Calls that come in on a trunk: trusted by the trunk's address (no challenge), held to its
//! channel limit, and routed by the DID they were sent to (the inbound routes open now), never
//! straight to an extension. The caller is the outside number in From.

use super::call::{ALeg, Call, Phase};
use super::dialog::{self, Head};
use super::inbound::InviteCx;
use super::media::Side;
use super::B2bua;
use crate::routing::{self, Decision};

impl B2bua {
    /// The call for an INVITE from trunk `trunk` of `tenant`, and where it goes. `Err` is a
    /// refusal answered without a call: the trunk is full, or its offer cannot be anchored.
    pub(crate) fn call_from_trunk(
        &mut self,
        cx: &InviteCx<'_>,
        tenant: &str,
        trunk: &str,
        a: ALeg,
        head: &Head<'_>,
        request_uri: &str,
    ) -> Result<(Call, Decision), (u16, String)> {
        let site = cx.site;
        let Some(t) = site.tenants.iter().find(|t| t.name == tenant) else {
            return Err((404, "Not Found: the trunk's tenant is gone".into()));
        };
        let Some(config) = t.trunks.iter().find(|x| x.name == trunk) else {
            return Err((404, "Not Found: the trunk is gone".into()));
        };
        let up =
            self.trunk_channels().into_iter().find(|((tn, n), _)| tn == tenant && n == trunk).map_or(0, |(_, c)| c);
        if up >= config.max_channels as usize {
            return Err((
                503,
                format!("Service Unavailable: trunk {trunk} is at its {} channels", config.max_channels),
            ));
        }
        let from = head.get("from").unwrap_or_default();
        let caller = dialog::user_of(dialog::uri_of(from)).unwrap_or("anonymous").to_owned();
        // A registered trunk sends calls to our Contact (its username): the DID is then in To.
        let to_user = head.get("to").and_then(|to| dialog::user_of(dialog::uri_of(to)));
        let did = match dialog::user_of(request_uri) {
            Some(user) if Some(user) != config.username.as_deref() => user,
            _ => to_user.unwrap_or_default(),
        }
        .to_owned();
        let decision = routing::route_inbound(site, tenant, &caller, &did, cx.env.sit);
        let id = self.next_call_id();
        let anchored = !matches!(decision, Decision::Reject { .. });
        let mut offer = Vec::new();
        if anchored {
            if let Err(e) = self.media.open(id) {
                return Err((503, format!("Service Unavailable: {e}")));
            }
            if !head.body.is_empty() {
                offer = self.media.relay(id, Side::A, head.body).map_err(|e| {
                    self.media.close(id);
                    (488, format!("Not Acceptable Here: {e}"))
                })?;
            }
        }
        let display = from.split('<').next().filter(|_| from.contains('<')).unwrap_or_default().to_owned();
        let domain = t.domains.first().cloned().unwrap_or_else(|| config.domain().to_owned());
        let call = Call {
            id,
            tenant: tenant.to_owned(),
            caller,
            dialled: did,
            domain,
            a_from_display: display,
            a,
            forks: Vec::new(),
            plan: None,
            step: 0,
            step_until: None,
            phase: Phase::Ringing,
            answered: None,
            offer,
            content_type: head.get("content-type").map(str::to_owned),
            start_unix: cx.env.now.unix,
            answer_unix: None,
            why: format!("from trunk {trunk}"),
            forget_at: None,
            a_acked: false,
            reinvite: None,
            transfer: None,
            trunk: None,
            a_trunk: Some(trunk.to_owned()),
        };
        Ok((call, decision))
    }
}
