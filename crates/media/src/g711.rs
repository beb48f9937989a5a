//! G.711 µ-law and A-law, written by hand.
//!
//! The behaviour follows the ITU-T G.191 software tools (`g711.c`): both laws take the
//! magnitude of a negative sample as its one's complement (`!x`), which is what makes
//! `encode(decode(code)) == code` hold for every code. The older Sun `linear2ulaw` negates
//! instead and differs from the ITU tool by one step on some negative inputs.

/// µ-law bias (33 in the 14-bit domain, 132 in the 16-bit domain).
const ULAW_BIAS: i32 = 0x84;

/// Encodes one 16-bit linear sample as a µ-law byte.
pub fn ulaw_encode(s: i16) -> u8 {
    // µ-law works on 14 bits: drop the two low bits, bias by 33 so every segment starts
    // at a power of two, and let the bit length give the segment.
    let (mag, mask) = if s < 0 {
        (i32::from(!s) >> 2, 0x7F)
    } else {
        (i32::from(s) >> 2, 0xFF)
    };
    let biased = (mag + (ULAW_BIAS >> 2)).min(0x1FFF) as u32;
    let exponent = 32 - (biased >> 6).leading_zeros();
    let mantissa = (biased >> (exponent + 1)) & 0x0F;
    (((exponent << 4) | mantissa) as u8) ^ mask
}

/// Decodes one µ-law byte to a 16-bit linear sample.
pub const fn ulaw_decode(code: u8) -> i16 {
    let u = !code;
    let exponent = (u >> 4) & 0x07;
    let t = ((((u & 0x0F) as i32) << 3) + ULAW_BIAS) << exponent;
    let v = if u & 0x80 != 0 {
        ULAW_BIAS - t
    } else {
        t - ULAW_BIAS
    };
    v as i16
}

/// Encodes one 16-bit linear sample as an A-law byte.
pub fn alaw_encode(s: i16) -> u8 {
    // A-law works on 12 bits of magnitude; segments 0 and 1 share one step size.
    let (mag, mask) = if s >= 0 {
        (i32::from(s) >> 4, 0xD5)
    } else {
        (i32::from(!s) >> 4, 0x55)
    };
    let code = if mag < 32 {
        mag as u32
    } else {
        let exponent = (32 - (mag as u32).leading_zeros()) - 4;
        (exponent << 4) | ((mag as u32 >> (exponent - 1)) & 0x0F)
    };
    (code as u8) ^ mask
}

/// Decodes one A-law byte to a 16-bit linear sample.
pub const fn alaw_decode(code: u8) -> i16 {
    let a = code ^ 0x55;
    let mut t = ((a & 0x0F) as i32) << 4;
    let seg = (a & 0x70) >> 4;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => t = (t + 0x108) << (seg - 1),
    }
    (if a & 0x80 != 0 { t } else { -t }) as i16
}

/// Every µ-law byte decoded, by code: what the receive path looks samples up in (a load
/// per sample, where the arithmetic above is a dozen operations and a branch).
pub static ULAW_TO_LINEAR: [i16; 256] = table(Law::Ulaw);
/// Every A-law byte decoded, by code.
pub static ALAW_TO_LINEAR: [i16; 256] = table(Law::Alaw);

enum Law {
    Ulaw,
    Alaw,
}

// A `const fn` cannot call through a function pointer, hence the enum.
const fn table(law: Law) -> [i16; 256] {
    let mut t = [0; 256];
    let mut code = 0;
    while code < 256 {
        t[code] = match law {
            Law::Ulaw => ulaw_decode(code as u8),
            Law::Alaw => alaw_decode(code as u8),
        };
        code += 1;
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    /// µ-law encoder transcribed from ITU-T G.191 `ulaw_compress`, kept slow and literal.
    fn ref_ulaw(x: i16) -> u8 {
        let x = i32::from(x);
        let mut absno = if x < 0 {
            ((!x) >> 2) + 33
        } else {
            (x >> 2) + 33
        };
        if absno > 0x1FFF {
            absno = 0x1FFF;
        }
        let mut i = absno >> 6;
        let mut segno = 1;
        while i != 0 {
            segno += 1;
            i >>= 1;
        }
        let high = 8 - segno;
        let low = 0x0F - ((absno >> segno) & 0x0F);
        let mut out = (high << 4) | low;
        if x >= 0 {
            out |= 0x80;
        }
        out as u8
    }

    /// A-law encoder transcribed from ITU-T G.191 `alaw_compress`.
    fn ref_alaw(x: i16) -> u8 {
        let x = i32::from(x);
        let mut ix = if x < 0 { (!x) >> 4 } else { x >> 4 };
        if ix > 15 {
            let mut iexp = 1;
            while ix > 16 + 15 {
                ix >>= 1;
                iexp += 1;
            }
            ix -= 16;
            ix += iexp << 4;
        }
        if x >= 0 {
            ix |= 0x80;
        }
        (ix ^ 0x55) as u8
    }

    /// µ-law decoder transcribed from ITU-T G.191 `ulaw_expand`.
    fn ref_ulaw_expand(code: u8) -> i16 {
        let code = i32::from(code);
        let sign = if code < 0x80 { -1 } else { 1 };
        let mantissa = !code;
        let exponent = (mantissa >> 4) & 0x07;
        let segment = exponent + 1;
        let mantissa = mantissa & 0x0F;
        let step = 4 << segment;
        (sign * ((0x80 << exponent) + step * mantissa + step / 2 - 4 * 33)) as i16
    }

    /// A-law decoder transcribed from ITU-T G.191 `alaw_expand`.
    fn ref_alaw_expand(code: u8) -> i16 {
        let ix = i32::from(code) ^ 0x55;
        let iexp = (ix & 0x70) >> 4;
        let mut mant = ix & 0x0F;
        if iexp > 0 {
            mant += 16;
        }
        mant = (mant << 4) + 0x08;
        if iexp > 1 {
            mant <<= iexp - 1;
        }
        (if ix > 127 { mant } else { -mant }) as i16
    }

    #[test]
    fn known_reference_values() {
        assert_eq!(ulaw_decode(0x00), -32124);
        assert_eq!(ulaw_decode(0x80), 32124);
        assert_eq!(ulaw_decode(0x7F), 0);
        assert_eq!(ulaw_decode(0xFF), 0);
        assert_eq!(ulaw_decode(0x7E), -8);
        assert_eq!(ulaw_decode(0xFE), 8);
        assert_eq!(alaw_decode(0xD5), 8);
        assert_eq!(alaw_decode(0x55), -8);
        assert_eq!(alaw_decode(0xAA), 32256);
        assert_eq!(alaw_decode(0x2A), -32256);
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(alaw_encode(-1), 0x55);
        assert_eq!(alaw_encode(i16::MAX), 0xAA);
        assert_eq!(alaw_encode(i16::MIN), 0x2A);
    }

    #[test]
    fn decoders_match_reference_for_every_code() {
        for code in 0..=255u8 {
            assert_eq!(
                ulaw_decode(code),
                ref_ulaw_expand(code),
                "µ-law {code:#04x}"
            );
            assert_eq!(
                alaw_decode(code),
                ref_alaw_expand(code),
                "A-law {code:#04x}"
            );
            // The tables the receive path decodes with, by code.
            let i = usize::from(code);
            assert_eq!(
                ULAW_TO_LINEAR[i],
                ref_ulaw_expand(code),
                "µ-law table {code:#04x}"
            );
            assert_eq!(
                ALAW_TO_LINEAR[i],
                ref_alaw_expand(code),
                "A-law table {code:#04x}"
            );
        }
    }

    #[test]
    fn encode_of_decode_is_identity() {
        for code in 0..=255u8 {
            if code == 0x7F {
                // µ-law has a negative zero; it decodes to 0, which encodes as 0xFF.
                assert_eq!(ulaw_encode(ulaw_decode(code)), 0xFF);
            } else {
                assert_eq!(ulaw_encode(ulaw_decode(code)), code, "µ-law {code:#04x}");
            }
            assert_eq!(alaw_encode(alaw_decode(code)), code, "A-law {code:#04x}");
        }
    }

    #[test]
    fn encoders_match_reference_for_all_inputs() {
        for x in i16::MIN..=i16::MAX {
            assert_eq!(ulaw_encode(x), ref_ulaw(x), "µ-law of {x}");
            assert_eq!(alaw_encode(x), ref_alaw(x), "A-law of {x}");
        }
    }

    #[test]
    fn encoders_are_monotonic_in_decoded_value() {
        let mut prev_u = i16::MIN;
        let mut prev_a = i16::MIN;
        for x in i16::MIN..=i16::MAX {
            let u = ulaw_decode(ulaw_encode(x));
            let a = alaw_decode(alaw_encode(x));
            assert!(u >= prev_u && a >= prev_a, "not monotonic at {x}");
            prev_u = u;
            prev_a = a;
        }
    }
}
