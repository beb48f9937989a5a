//! Dialling a citizen through the carrier's gateway (`[trunk.outbound]`): the hotline's
//! caller ID, digest credentials if the carrier challenges, and how the carrier's answer
//! reads as a callback result.

use super::out_leg::{Failure, OutLeg};
use crate::config::OutboundTrunk;
use crate::endpoint::EndpointHandle;
use hotline_case::CallbackResult;
use hotline_media::PortPool;
use hotline_sip::invite;
use hotline_sip::message::Transport;

/// Starts a leg to `number` through the gateway (`route`: see [`OutLeg::start`]).
pub async fn dial(
    ep: EndpointHandle,
    ports: &PortPool,
    trunk: &OutboundTrunk,
    number: &str,
    ticket: &str,
    route: impl FnOnce(&str),
) -> Result<OutLeg, String> {
    let gw = trunk.gateway;
    let dialled = format!("{}{number}", trunk.prefix);
    let uri = rsip::Uri::try_from(format!("sip:{dialled}@{gw}").as_str())
        .map_err(|e| format!("cannot call {dialled}: {e}"))?;
    let transport = if trunk.transport == "tcp" {
        Transport::Tcp
    } else {
        Transport::Udp
    };
    let host = ep.advertised.ip();
    let id = &trunk.caller_id;
    let target = invite::Target {
        uri,
        dest: gw,
        transport,
        from: format!("\"{id}\" <sip:{id}@{host}>"),
        to: format!("<sip:{dialled}@{gw}>"),
        asserted: Some(format!("<sip:{id}@{host}>")),
        // The carrier ignores it; our own logs and a capture show which case a call was for.
        extra: vec![rsip::Header::Other("X-Ticket".into(), ticket.to_string())],
        credentials: trunk.username.clone().zip(trunk.password.clone()),
        contact: format!("<sip:12345@{}>", ep.advertised),
        via_host: ep.advertised,
    };
    OutLeg::start(ep, ports, number.to_string(), target, route).await
}

/// How a failed call to a citizen counts (RFC 3261 §21 codes as carriers use them).
pub fn result_of(f: Failure) -> CallbackResult {
    match f {
        Failure::Status(486 | 600) => CallbackResult::Busy,
        Failure::Status(403 | 603) => CallbackResult::Rejected,
        Failure::Status(404 | 410 | 484 | 485 | 604) => CallbackResult::WrongNumber,
        // 480 temporarily unavailable, 408, our CANCEL, no response, 5xx: try again later.
        _ => CallbackResult::NoAnswer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carrier_answers_map_to_results() {
        assert_eq!(result_of(Failure::Status(486)), CallbackResult::Busy);
        assert_eq!(result_of(Failure::Status(603)), CallbackResult::Rejected);
        assert_eq!(result_of(Failure::Status(404)), CallbackResult::WrongNumber);
        assert_eq!(result_of(Failure::Status(480)), CallbackResult::NoAnswer);
        assert_eq!(result_of(Failure::NoAnswer), CallbackResult::NoAnswer);
        assert_eq!(result_of(Failure::NoResponse), CallbackResult::NoAnswer);
        assert_eq!(result_of(Failure::Status(503)), CallbackResult::NoAnswer);
    }
}
