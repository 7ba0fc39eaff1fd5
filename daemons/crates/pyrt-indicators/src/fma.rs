//! Fused multiply-adds at hardware speed where the CPU has them.
//!
//! TA-Lib 0.8 writes some of its steps as `fma()` (EMA, MACD, ATR, the upper Bollinger Band with
//! unequal multipliers): one rounding, on every machine. Its build compiles those functions twice
//! (GCC `target_clones`) so CPUs with FMA run the instruction and others call libm. The batch
//! kernels that share those steps use [`f64::mul_add`] (the same single rounding, so the same
//! values everywhere) and are compiled twice the same way: the baseline x86-64 target has no FMA,
//! and there `mul_add` is a libm call per element.

/// Defines `fn $name(args)` running `$kernel(args)`, compiled once for FMA (picked at run time on
/// CPUs that have it; FMA implies AVX, so that copy also gets AVX encodings) and once for the
/// baseline target. `$kernel` must be `#[inline(always)]` so each copy is compiled inside its own
/// target-feature context.
macro_rules! fma_dispatch {
    ($vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) => $kernel:ident) => {
        $vis fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "fma")]
                fn fused($($arg: $ty),*) {
                    $kernel($($arg),*);
                }
                if std::arch::is_x86_feature_detected!("fma") {
                    // SAFETY: `fused` only needs the FMA instructions, present per the check above.
                    unsafe { fused($($arg),*) };
                    return;
                }
            }
            $kernel($($arg),*);
        }
    };
}

pub(crate) use fma_dispatch;

#[cfg(test)]
mod tests {
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn square_minus(a: f64, c: f64, out: &mut f64) {
        *out = a.mul_add(a, c);
    }

    fma_dispatch!(fn dispatched(a: f64, c: f64, out: &mut f64) => square_minus);

    #[test]
    fn both_copies_round_once() {
        // (1 + 2^-30)^2 = 1 + 2^-29 + 2^-60: the last term survives a single rounding only.
        let a = 1.0 + f64::EPSILON * 2f64.powi(22);
        let c = -(1.0 + f64::EPSILON * 2f64.powi(23));
        assert_eq!(a * a + c, 0.0);
        let mut out = 0.0;
        dispatched(a, c, &mut out);
        assert_eq!(out, 2f64.powi(-60));
        square_minus(a, c, &mut out);
        assert_eq!(out, 2f64.powi(-60));
    }
}
