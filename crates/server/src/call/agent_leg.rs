//! Ringing an agent's softphone: whom to call, and what the phone shows before the agent
//! answers (the citizen's number, the ticket, the caller's other open cases, or for a
//! callback the task and the voicemail to listen to).

use super::out_leg::OutLeg;
use crate::endpoint::EndpointHandle;
use hotline_media::PortPool;
use hotline_sip::invite;
use hotline_sip::registrar::Binding;
use rsip::Header;

/// What the agent's phone shows before answering.
pub struct AgentOffer<'a> {
    /// The citizen's number (From display and user part).
    pub citizen: &'a str,
    pub ticket: &'a str,
    /// Further headers: X-Open-Tickets, X-Callback-Task…
    pub extra: Vec<Header>,
}

/// Starts a leg to `extension`'s registered contact (`route`: see [`OutLeg::start`]).
pub async fn ring(
    ep: EndpointHandle,
    ports: &PortPool,
    extension: &str,
    binding: Binding,
    offer: AgentOffer<'_>,
    route: impl FnOnce(&str),
) -> Result<OutLeg, String> {
    let host = ep.advertised.ip();
    let citizen = offer.citizen;
    let uri = rsip::Uri::try_from(binding.contact.as_str())
        .map_err(|e| format!("bad contact {}: {e}", binding.contact))?;
    let mut extra = vec![Header::Other("X-Ticket".into(), offer.ticket.to_string())];
    extra.extend(offer.extra);
    let target = invite::Target {
        uri,
        dest: binding.source,
        transport: binding.transport,
        // The softphone shows the citizen's number and the ticket before answering.
        from: format!("\"{citizen}\" <sip:{citizen}@{host}>"),
        to: format!("<sip:{extension}@{host}>"),
        asserted: Some(format!("<sip:{citizen}@{host}>")),
        extra,
        credentials: None,
        contact: format!("<sip:12345@{}>", ep.advertised),
        via_host: ep.advertised,
    };
    OutLeg::start(ep, ports, extension.to_string(), target, route).await
}
