//! A hash map split into shards that grow one at a time.
//!
//! The layer keeps every transaction for up to 32 s after it ends (timers H, J and L), so
//! under load its maps hold a hundred thousand entries. A `HashMap` that size grows by
//! moving and rehashing every entry at once: a stall of 10–20 ms in the one task that reads
//! the SIP socket, at each doubling. Measured at 800 calls/s (`bench/capacity.sh`): the
//! INVITEs that arrived during those stalls were refused for `receive_wait`, every time the
//! tables doubled while the load ramped up. Split in [`SHARDS`], each shard grows on its
//! own, so a growth costs a sixteenth of that, and the total work is the same.
//!
//! A `HashMap` also never gives back what it grew to: after a peak the layer would keep
//! room for the peak's transactions (hundreds of bytes each) with none left. A shard whose
//! entries fall below an eighth of its room is shrunk to twice what it holds — a sixteenth
//! of the map rehashed at a time again, and far enough from the growth point that a load
//! going up and down a little does not grow and shrink it in turn.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};

/// Shards per map.
pub const SHARDS: usize = 16;
/// Below this much room a shard is not worth shrinking.
const MIN_SHRINK_CAPACITY: usize = 1024;

/// A map of `K` to `V` in [`SHARDS`] `HashMap`s, a key's shard chosen by a hash of its own
/// (seeded per map, like `HashMap`'s, since keys such as branches come from the network).
#[derive(Debug)]
pub struct Shards<K, V> {
    maps: Vec<HashMap<K, V>>,
    pick: RandomState,
}

impl<K: Hash + Eq, V> Default for Shards<K, V> {
    fn default() -> Self {
        Shards {
            maps: (0..SHARDS).map(|_| HashMap::new()).collect(),
            pick: RandomState::new(),
        }
    }
}

impl<K: Hash + Eq, V> Shards<K, V> {
    fn shard(&self, k: &K) -> usize {
        self.pick.hash_one(k) as usize % SHARDS
    }

    pub fn get(&self, k: &K) -> Option<&V> {
        self.maps[self.shard(k)].get(k)
    }

    pub fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        let i = self.shard(k);
        self.maps[i].get_mut(k)
    }

    pub fn insert(&mut self, k: K, v: V) -> Option<V> {
        let i = self.shard(&k);
        self.maps[i].insert(k, v)
    }

    pub fn remove(&mut self, k: &K) -> Option<V> {
        let i = self.shard(k);
        let map = &mut self.maps[i];
        let removed = map.remove(k);
        if map.capacity() >= MIN_SHRINK_CAPACITY && map.len() < map.capacity() / 8 {
            map.shrink_to(map.len() * 2);
        }
        removed
    }

    pub fn len(&self) -> usize {
        self.maps.iter().map(HashMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.maps.iter().all(HashMap::is_empty)
    }

    /// Slots allocated in the largest shard (for tests of how growth is spread).
    #[cfg(test)]
    fn largest_capacity(&self) -> usize {
        self.maps.iter().map(HashMap::capacity).max().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Behaves as one map: the same answers as a `HashMap` under inserts, overwrites,
    /// lookups and removals.
    #[test]
    fn answers_like_one_map() {
        let mut s: Shards<String, u64> = Shards::default();
        let mut m: HashMap<String, u64> = HashMap::new();
        for i in 0..5000u64 {
            let k = format!("z9hG4bK{}", i * 7919 % 1000);
            assert_eq!(s.insert(k.clone(), i), m.insert(k.clone(), i));
            if i % 3 == 0 {
                let gone = format!("z9hG4bK{}", i % 1000);
                assert_eq!(s.remove(&gone), m.remove(&gone));
            }
            if let Some(v) = s.get_mut(&k) {
                *v += 1;
                *m.get_mut(&k).unwrap() += 1;
            }
        }
        assert_eq!(s.len(), m.len());
        for (k, v) in &m {
            assert_eq!(s.get(k), Some(v));
        }
        assert!(s.get(&"other".to_string()).is_none());
        for k in m.keys() {
            s.remove(k);
        }
        assert!(s.is_empty());
    }

    /// After a peak of 100,000 entries is gone, the room for them is given back, a shard
    /// at a time; a small map keeps its room.
    #[test]
    fn room_is_given_back_after_a_peak() {
        let mut s: Shards<u64, [u8; 256]> = Shards::default();
        for id in 0..100_000 {
            s.insert(id, [0; 256]);
        }
        let peak = s.largest_capacity();
        for id in 0..99_900 {
            s.remove(&id);
        }
        assert_eq!(s.len(), 100);
        assert!(
            s.largest_capacity() * 8 <= peak,
            "room {} after the peak, {peak} at it",
            s.largest_capacity()
        );
        for id in 99_900..100_000 {
            assert!(s.get(&id).is_some());
        }
    }

    /// 100,000 transactions: no shard holds much more than its share, so no growth ever
    /// rehashes more than a small part of them.
    #[test]
    fn entries_spread_so_each_growth_is_a_fraction() {
        let mut s: Shards<u64, ()> = Shards::default();
        for id in 0..100_000 {
            s.insert(id, ());
        }
        let share = 100_000 / SHARDS;
        assert!(
            s.largest_capacity() <= 4 * share,
            "largest shard has room for {} (a share is {share})",
            s.largest_capacity()
        );
    }
}
