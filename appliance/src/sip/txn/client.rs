//! Client transactions (RFC 3261 §17.1): INVITE (Figure 5: Calling, Proceeding, Completed,
//! Terminated; timers A, B, D) and non-INVITE (Figure 6: Trying, Proceeding, Completed,
//! Terminated; timers E, F, K).
//!
//! The ACK for a non-2xx final response belongs to the transaction (same branch); its bytes
//! depend on the response's To tag, so the user builds it and passes it in with the response.
//! A 2xx ends an INVITE client transaction at once: its ACK is the dialog's business.

use std::time::{Duration, Instant};

use super::{Step, T2, T4, TIMEOUT, TIMER_D};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// INVITE sent, nothing heard (non-INVITE: Trying).
    Calling,
    Proceeding,
    Completed,
    Terminated,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Input {
    /// A response matched to this transaction; `ack` is the ACK to send if it is a non-2xx
    /// final response to an INVITE.
    Response { code: u16, ack: Option<Vec<u8>> },
    /// A deadline returned earlier has passed.
    Timer,
    /// The transport reported the destination unreachable.
    TransportError,
}

#[derive(Debug)]
pub struct ClientTxn {
    invite: bool,
    reliable: bool,
    state: State,
    request: Vec<u8>,
    ack: Option<Vec<u8>>,
    /// Timer A / E: when to retransmit next and the interval used last.
    retransmit: Option<(Instant, Duration)>,
    /// Timer B / F.
    give_up: Instant,
    /// Timer D / K.
    linger: Option<Instant>,
}

impl ClientTxn {
    /// Starts a transaction; the returned step sends the request.
    pub fn start(now: Instant, invite: bool, reliable: bool, request: Vec<u8>) -> (ClientTxn, Step, Option<Instant>) {
        let retransmit = (!reliable).then_some((now + super::T1, super::T1));
        let txn = ClientTxn {
            invite,
            reliable,
            state: State::Calling,
            request: request.clone(),
            ack: None,
            retransmit,
            give_up: now + TIMEOUT,
            linger: None,
        };
        let deadline = txn.deadline();
        (txn, Step::send(request), deadline)
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// The next time `handle(now, Input::Timer)` is due.
    pub fn deadline(&self) -> Option<Instant> {
        match self.state {
            State::Calling | State::Proceeding => {
                let retransmit = self.retransmit.map(|(at, _)| at);
                Some(retransmit.map_or(self.give_up, |r| r.min(self.give_up)))
            }
            State::Completed => self.linger,
            State::Terminated => None,
        }
    }

    pub fn handle(&mut self, now: Instant, input: Input) -> (Step, Option<Instant>) {
        let step = match input {
            Input::Response { code, ack } => self.on_response(now, code, ack),
            Input::Timer => self.on_timer(now),
            Input::TransportError => self.fail(),
        };
        (step, self.deadline())
    }

    fn fail(&mut self) -> Step {
        if matches!(self.state, State::Calling | State::Proceeding) {
            self.state = State::Terminated;
            return Step { timed_out: true, terminated: true, ..Step::default() };
        }
        Step::default()
    }

    fn on_response(&mut self, now: Instant, code: u16, ack: Option<Vec<u8>>) -> Step {
        match (self.state, code) {
            (State::Terminated, _) => Step::default(),
            (State::Completed, c) if c >= 200 => {
                // A retransmitted final response: the INVITE side ACKs it again, nothing more.
                match (&self.ack, self.invite) {
                    (Some(ack), true) => Step::send(ack.clone()),
                    _ => Step::default(),
                }
            }
            (State::Completed, _) => Step::default(),
            (State::Calling | State::Proceeding, c) if c < 200 => {
                self.state = State::Proceeding;
                if self.invite {
                    // Timer A stops once a provisional response arrives.
                    self.retransmit = None;
                } else if let Some((_, _)) = self.retransmit {
                    // Timer E continues at T2 in Proceeding.
                    self.retransmit = Some((now + T2, T2));
                }
                Step { deliver: true, ..Step::default() }
            }
            (State::Calling | State::Proceeding, c) if self.invite && c < 300 => {
                self.state = State::Terminated;
                Step { deliver: true, terminated: true, ..Step::default() }
            }
            (State::Calling | State::Proceeding, _) => {
                self.retransmit = None;
                let linger = match (self.reliable, self.invite) {
                    (true, _) => Duration::ZERO,
                    (false, true) => TIMER_D,
                    (false, false) => T4,
                };
                let mut step = Step { deliver: true, ..Step::default() };
                if self.invite {
                    if let Some(ack) = ack {
                        step.send.push(ack.clone());
                        self.ack = Some(ack);
                    }
                }
                if linger.is_zero() {
                    self.state = State::Terminated;
                    step.terminated = true;
                } else {
                    self.state = State::Completed;
                    self.linger = Some(now + linger);
                }
                step
            }
        }
    }

    fn on_timer(&mut self, now: Instant) -> Step {
        match self.state {
            State::Calling | State::Proceeding => {
                if now >= self.give_up {
                    return self.fail();
                }
                let mut step = Step::default();
                if let Some((at, interval)) = self.retransmit {
                    if now >= at {
                        let next = if self.invite { interval * 2 } else { (interval * 2).min(T2) };
                        let next = if self.state == State::Proceeding { T2 } else { next };
                        self.retransmit = Some((now + next, next));
                        step.send.push(self.request.clone());
                    }
                }
                step
            }
            State::Completed => {
                if self.linger.is_some_and(|at| now >= at) {
                    self.state = State::Terminated;
                    return Step { terminated: true, ..Step::default() };
                }
                Step::default()
            }
            State::Terminated => Step::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::txn::T1;

    fn resp(code: u16) -> Input {
        Input::Response { code, ack: (code >= 300).then(|| b"ACK".to_vec()) }
    }

    #[test]
    fn invite_over_udp_retransmits_with_timer_a_until_a_provisional_then_acks_a_failure() {
        let t0 = Instant::now();
        let (mut t, step, deadline) = ClientTxn::start(t0, true, false, b"INVITE".to_vec());
        assert_eq!(step.send, vec![b"INVITE".to_vec()]);
        assert_eq!(deadline, Some(t0 + T1));
        let (step, deadline) = t.handle(t0 + T1, Input::Timer);
        assert_eq!(step.send.len(), 1, "first retransmission at T1");
        assert_eq!(deadline, Some(t0 + T1 + 2 * T1), "then 2·T1 later");
        let (step, deadline) = t.handle(t0 + T1, resp(180));
        assert!(step.deliver && step.send.is_empty());
        assert_eq!(deadline, Some(t0 + TIMEOUT), "only Timer B is left");
        let (step, _) = t.handle(t0 + 2 * T1, resp(486));
        assert!(step.deliver && step.send == vec![b"ACK".to_vec()]);
        assert_eq!(t.state(), State::Completed);
        let (step, _) = t.handle(t0 + 3 * T1, resp(486));
        assert!(!step.deliver && step.send == vec![b"ACK".to_vec()], "a retransmitted 486 is ACKed again");
        let (step, deadline) = t.handle(t0 + 2 * T1 + TIMER_D, Input::Timer);
        assert!(step.terminated && deadline.is_none(), "Timer D");
    }

    #[test]
    fn invite_times_out_with_timer_b_and_a_2xx_ends_it_at_once() {
        let t0 = Instant::now();
        let (mut t, _, _) = ClientTxn::start(t0, true, false, b"INVITE".to_vec());
        let mut now = t0;
        let mut sends = 0;
        while let Some(next) = t.deadline() {
            now = next;
            let (step, _) = t.handle(now, Input::Timer);
            sends += step.send.len();
            if step.timed_out {
                break;
            }
        }
        assert_eq!(now, t0 + TIMEOUT);
        assert_eq!(sends, 6, "retransmissions at 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s");
        let (mut t, _, _) = ClientTxn::start(t0, true, true, b"INVITE".to_vec());
        assert_eq!(t.deadline(), Some(t0 + TIMEOUT), "no Timer A over TCP");
        let (step, deadline) = t.handle(t0, resp(200));
        assert!(step.deliver && step.terminated && step.send.is_empty() && deadline.is_none());
    }

    #[test]
    fn non_invite_retransmits_with_timer_e_capped_at_t2_and_lingers_timer_k() {
        let t0 = Instant::now();
        let (mut t, _, _) = ClientTxn::start(t0, false, false, b"BYE".to_vec());
        let mut at = t0 + T1;
        let mut intervals = Vec::new();
        for _ in 0..5 {
            let (step, deadline) = t.handle(at, Input::Timer);
            assert_eq!(step.send.len(), 1);
            let next = deadline.unwrap();
            intervals.push(next - at);
            at = next;
        }
        assert_eq!(intervals, vec![2 * T1, 4 * T1, T2, T2, T2]);
        let (step, deadline) = t.handle(at, resp(200));
        assert!(step.deliver && step.send.is_empty(), "no ACK for non-INVITE");
        assert_eq!(deadline, Some(at + T4), "Timer K");
        let (step, _) = t.handle(at + T4, Input::Timer);
        assert!(step.terminated);
        let (mut t, _, _) = ClientTxn::start(t0, false, false, b"BYE".to_vec());
        let (step, _) = t.handle(t0 + TIMEOUT, Input::Timer);
        assert!(step.timed_out, "Timer F");
    }
}
