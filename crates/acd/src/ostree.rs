//! An order-statistics set: a treap in an arena, each node knowing its subtree size, so
//! insert, remove and "how many keys are smaller" are O(log n) expected. Used for queue
//! positions; `BTreeSet` cannot count without walking.

const NIL: u32 = u32::MAX;

#[derive(Debug, Clone)]
struct Node<K> {
    key: K,
    prio: u64,
    left: u32,
    right: u32,
    size: u32,
}

/// A set of distinct keys with O(log n) rank.
#[derive(Debug, Clone)]
pub(crate) struct OsTree<K> {
    nodes: Vec<Node<K>>,
    free: Vec<u32>,
    root: u32,
    seed: u64,
}

impl<K: Ord + Copy> Default for OsTree<K> {
    fn default() -> Self {
        OsTree {
            nodes: Vec::new(),
            free: Vec::new(),
            root: NIL,
            seed: 0x9E37_79B9_7F4A_7C15,
        }
    }
}

impl<K: Ord + Copy> OsTree<K> {
    /// Number of keys.
    pub(crate) fn len(&self) -> usize {
        self.size(self.root) as usize
    }

    /// Number of keys strictly smaller than `key`.
    pub(crate) fn rank(&self, key: &K) -> usize {
        let (mut t, mut r) = (self.root, 0usize);
        while t != NIL {
            let n = &self.nodes[t as usize];
            if n.key < *key {
                r += self.size(n.left) as usize + 1;
                t = n.right;
            } else {
                t = n.left;
            }
        }
        r
    }

    /// Adds `key` (which must not be present).
    pub(crate) fn insert(&mut self, key: K) {
        // Deterministic priorities: splitmix64 over a counter.
        self.seed = self.seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        let node = Node {
            key,
            prio: z ^ (z >> 31),
            left: NIL,
            right: NIL,
            size: 1,
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.nodes[id as usize] = node;
                id
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        let (l, r) = self.split(self.root, &|k| *k < key);
        let l = self.merge(l, id);
        self.root = self.merge(l, r);
    }

    /// Removes `key`; returns whether it was present.
    pub(crate) fn remove(&mut self, key: &K) -> bool {
        let (l, r) = self.split(self.root, &|k| k < key);
        let (m, r) = self.split(r, &|k| k == key);
        if m != NIL {
            self.free.push(m);
        }
        self.root = self.merge(l, r);
        m != NIL
    }

    fn size(&self, t: u32) -> u32 {
        if t == NIL {
            0
        } else {
            self.nodes[t as usize].size
        }
    }

    fn update(&mut self, t: u32) {
        let n = &self.nodes[t as usize];
        let s = self.size(n.left) + self.size(n.right) + 1;
        self.nodes[t as usize].size = s;
    }

    /// Splits `t` into (keys where `left(k)`, the rest); `left` must hold for a prefix.
    fn split(&mut self, t: u32, left: &impl Fn(&K) -> bool) -> (u32, u32) {
        if t == NIL {
            return (NIL, NIL);
        }
        if left(&self.nodes[t as usize].key) {
            let (a, b) = self.split(self.nodes[t as usize].right, left);
            self.nodes[t as usize].right = a;
            self.update(t);
            (t, b)
        } else {
            let (a, b) = self.split(self.nodes[t as usize].left, left);
            self.nodes[t as usize].left = b;
            self.update(t);
            (a, t)
        }
    }

    /// Joins two treaps where every key of `a` is below every key of `b`.
    fn merge(&mut self, a: u32, b: u32) -> u32 {
        if a == NIL {
            return b;
        }
        if b == NIL {
            return a;
        }
        if self.nodes[a as usize].prio > self.nodes[b as usize].prio {
            let r = self.merge(self.nodes[a as usize].right, b);
            self.nodes[a as usize].right = r;
            self.update(a);
            a
        } else {
            let l = self.merge(a, self.nodes[b as usize].left);
            self.nodes[b as usize].left = l;
            self.update(b);
            b
        }
    }
}

#[cfg(test)]
mod tests {
    use super::OsTree;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    proptest! {
        #[test]
        fn matches_a_btreeset(ops in proptest::collection::vec((any::<bool>(), 0u16..200), 0..400)) {
            let (mut t, mut model) = (OsTree::default(), BTreeSet::new());
            for (add, k) in ops {
                if add {
                    if model.insert(k) { t.insert(k); }
                } else {
                    prop_assert_eq!(t.remove(&k), model.remove(&k));
                }
                prop_assert_eq!(t.len(), model.len());
                prop_assert_eq!(t.rank(&k), model.range(..k).count());
            }
        }
    }
}
