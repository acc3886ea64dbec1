//! A set of small indexes (the fields or oneofs of one message an encoder
//! has written): no allocation up to 128 members.

pub(crate) enum Seen {
    Small(u128),
    Large(Vec<bool>),
}

impl Seen {
    /// An empty set for the indexes `0..n`.
    #[inline]
    pub(crate) fn new(n: usize) -> Self {
        if n <= 128 {
            Seen::Small(0)
        } else {
            Seen::Large(vec![false; n])
        }
    }

    #[inline]
    pub(crate) fn set(&mut self, i: usize) {
        match self {
            Seen::Small(b) => *b |= 1 << i,
            Seen::Large(v) => v[i] = true,
        }
    }

    #[inline]
    pub(crate) fn get(&self, i: usize) -> bool {
        match self {
            Seen::Small(b) => *b & (1 << i) != 0,
            Seen::Large(v) => v[i],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Seen;

    #[test]
    fn small_and_large_sets_agree() {
        for n in [1, 128, 129, 300] {
            let mut s = Seen::new(n);
            for i in (0..n).step_by(3) {
                s.set(i);
            }
            for i in 0..n {
                assert_eq!(s.get(i), i % 3 == 0, "n={n} i={i}");
            }
        }
    }
}
