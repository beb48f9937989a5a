//! A brute-force consistency check of every index, for the tests.

use std::collections::HashMap;

use super::*;

impl Router {
    /// Checks every index against the records and the routing invariant, by brute force.
    pub(crate) fn check(&self) -> Result<(), String> {
        let mut holders: HashMap<CallKey, Slot> = HashMap::new();
        for (slot, a) in self.agents.iter().enumerate() {
            let slot = slot as Slot;
            if let AgentState::Offered(c) | AgentState::OnCall(c) = a.state {
                if holders.insert(c, slot).is_some() {
                    return Err(format!("{c:?} held by two agents"));
                }
                if self.calls.get(&c).and_then(|c| c.agent) != Some(slot) {
                    return Err(format!("{c:?} held by {:?} but not recorded", a.id));
                }
            }
            for &(q, l) in &a.resolved {
                let queue = &self.queues[q];
                let indexed =
                    queue.ready[l as usize - 1].contains(&rank_key(queue.cfg.strategy, a, slot, l));
                if indexed != (a.state == AgentState::Ready) {
                    return Err(format!(
                        "{:?} in {} ready index: {indexed}",
                        a.id, queue.cfg.name
                    ));
                }
            }
        }
        let indexed_ready: usize = self
            .queues
            .iter()
            .flat_map(|q| &q.ready)
            .map(|s| s.len())
            .sum();
        let ready_entries: usize = self
            .agents
            .iter()
            .filter(|a| a.state == AgentState::Ready)
            .map(|a| a.resolved.len())
            .sum();
        if indexed_ready != ready_entries {
            return Err("stale ready index entries".into());
        }
        let mut per_queue = vec![0usize; self.queues.len()];
        for (&key, c) in &self.calls {
            if let Some(s) = c.agent {
                if holders.get(&key) != Some(&s) {
                    return Err(format!("{key:?} points to an agent that does not hold it"));
                }
                continue;
            }
            per_queue[c.queue] += 1;
            let ord = c.ord(key);
            for (qid, q) in self.queues.iter().enumerate() {
                for (i, set) in q.waiting.iter().enumerate() {
                    let want = qid == c.queue && i + 1 == c.min_level as usize;
                    if set.contains(&ord) != want {
                        return Err(format!(
                            "{key:?} wrongly in/out of {} level {}",
                            q.cfg.name,
                            i + 1
                        ));
                    }
                }
                if q.overflow_in.contains(&ord) != c.overflow.contains(&qid) {
                    return Err(format!("{key:?} wrongly in/out of {} overflow", q.cfg.name));
                }
            }
            if c.deadline != next_event(&self.queues[c.queue], c)
                || c.deadline.is_some_and(|d| !self.timers.contains(&(d, key)))
            {
                return Err(format!("{key:?} timer out of date"));
            }
            for a in self.agents.iter().filter(|a| a.state == AgentState::Ready) {
                let serves = a.resolved.iter().any(|&(q, l)| {
                    (q == c.queue && l >= c.min_level)
                        || (c.overflow.contains(&q) && l >= self.queues[q].cfg.min_level)
                });
                if serves {
                    return Err(format!("{:?} idles while {key:?} waits", a.id));
                }
            }
        }
        for (qid, q) in self.queues.iter().enumerate() {
            let in_buckets: usize = q.waiting.iter().map(|s| s.len()).sum();
            if q.order.len() != per_queue[qid]
                || in_buckets != per_queue[qid]
                || q.by_arrival.len() != per_queue[qid]
            {
                return Err(format!("{} counts differ", q.cfg.name));
            }
        }
        let timed = self.calls.values().filter(|c| c.deadline.is_some()).count();
        if timed != self.timers.len() {
            return Err("stale timers".into());
        }
        Ok(())
    }
}
