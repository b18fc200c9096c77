//! wyrand: a small, fast PRNG for trace and span ids and sampling decisions
//! (not for secrets). Seeded from the OS on first use, so a thread-local
//! instance can be created in a `const` context.

/// The generator state; `Rng::UNSEEDED` seeds itself on first use.
#[derive(Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator that seeds itself from the OS on first use.
    pub const UNSEEDED: Self = Self(0);

    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        if self.0 == 0 {
            self.0 = seed();
        }
        self.0 = self.0.wrapping_add(0xa076_1d64_78bd_642f);
        let t = u128::from(self.0) * u128::from(self.0 ^ 0xe703_7ed1_a0b4_28db);
        (t >> 64) as u64 ^ t as u64
    }

    /// The next non-zero value (ids must not be all zeroes).
    pub fn next_nonzero(&mut self) -> u64 {
        loop {
            let v = self.next();
            if v != 0 {
                return v;
            }
        }
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn seed() -> u64 {
    let mut bytes = [0u8; 8];
    let from_os = getrandom::fill(&mut bytes).is_ok();
    let mixed = u64::from_le_bytes(bytes) ^ crate::clock::monotonic_ns();
    let mixed = if from_os {
        mixed
    } else {
        mixed ^ 0x9e37_79b9_7f4a_7c15
    };
    mixed | 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_vary_and_stay_in_range() {
        let mut rng = Rng::UNSEEDED;
        let a = rng.next_nonzero();
        let b = rng.next_nonzero();
        assert_ne!(a, b);
        assert!(
            (0..1000)
                .map(|_| rng.unit())
                .all(|u| (0.0..1.0).contains(&u))
        );
    }
}
