//! Numbers read the Chinese way (一百零五, not 一零五), for queue positions.

/// Every prompt [`chinese_number_prompts`] may return: `num_0` … `num_9` (零 一 二 … 九,
/// with 一 read yi1: a count, not a digit of a number), `num_10` (十), `num_100` (百),
/// `num_1000` (千).
pub const NUMBER_PROMPTS: &[&str] = &[
    "num_0", "num_1", "num_2", "num_3", "num_4", "num_5", "num_6", "num_7", "num_8", "num_9",
    "num_10", "num_100", "num_1000",
];

/// The largest number read exactly; larger ones are read as this (a queue never gets that long).
pub const MAX_SPOKEN_NUMBER: usize = 9999;

/// The prompts that say `n` in Mandarin: 0 → 零, 12 → 十二, 20 → 二十, 105 → 一百零五,
/// 110 → 一百一十, 1005 → 一千零五. A run of zeros inside the number is one 零; trailing
/// zeros are silent; 10–19 drop the leading 一 (十一). Always 二, never 两.
/// Numbers above [`MAX_SPOKEN_NUMBER`] are read as it.
///
/// ```
/// assert_eq!(hotline_ivr::chinese_number_prompts(105), ["num_1", "num_100", "num_0", "num_5"]);
/// ```
pub fn chinese_number_prompts(n: usize) -> Vec<String> {
    let n = n.min(MAX_SPOKEN_NUMBER);
    if n == 0 {
        return vec!["num_0".to_owned()];
    }
    let places = [
        (n / 1000, Some("num_1000")),
        (n / 100 % 10, Some("num_100")),
        (n / 10 % 10, Some("num_10")),
        (n % 10, None),
    ];
    let mut out = Vec::new();
    let (mut started, mut zero_pending) = (false, false);
    for (i, (digit, unit)) in places.into_iter().enumerate() {
        if digit == 0 {
            zero_pending |= started;
            continue;
        }
        if zero_pending {
            out.push("num_0".to_owned());
            zero_pending = false;
        }
        // 十一, not 一十一; but 一百一十.
        let bare_ten = !started && i == 2 && digit == 1;
        if !bare_ten {
            out.push(format!("num_{digit}"));
        }
        if let Some(unit) = unit {
            out.push(unit.to_owned());
        }
        started = true;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The prompts as the characters they say.
    fn spoken(n: usize) -> String {
        chinese_number_prompts(n)
            .iter()
            .map(|p| match p.as_str() {
                "num_0" => '零',
                "num_1" => '一',
                "num_2" => '二',
                "num_3" => '三',
                "num_4" => '四',
                "num_5" => '五',
                "num_6" => '六',
                "num_7" => '七',
                "num_8" => '八',
                "num_9" => '九',
                "num_10" => '十',
                "num_100" => '百',
                "num_1000" => '千',
                other => panic!("unexpected prompt {other}"),
            })
            .collect()
    }

    #[test]
    fn reads_numbers_the_chinese_way() {
        for (n, text) in [
            (0, "零"),
            (1, "一"),
            (9, "九"),
            (10, "十"),
            (11, "十一"),
            (12, "十二"),
            (20, "二十"),
            (99, "九十九"),
            (100, "一百"),
            (101, "一百零一"),
            (105, "一百零五"),
            (110, "一百一十"),
            (999, "九百九十九"),
            (1000, "一千"),
            (1005, "一千零五"),
            (1010, "一千零一十"),
            (1100, "一千一百"),
            (2019, "二千零一十九"),
            (9999, "九千九百九十九"),
        ] {
            assert_eq!(spoken(n), text, "{n}");
        }
    }

    #[test]
    fn exact_prompt_names() {
        assert_eq!(chinese_number_prompts(0), ["num_0"]);
        assert_eq!(chinese_number_prompts(11), ["num_10", "num_1"]);
        assert_eq!(
            chinese_number_prompts(1005),
            ["num_1", "num_1000", "num_0", "num_5"]
        );
    }

    #[test]
    fn every_prompt_used_is_listed_and_large_numbers_saturate() {
        for n in 0..=MAX_SPOKEN_NUMBER {
            for p in chinese_number_prompts(n) {
                assert!(NUMBER_PROMPTS.contains(&p.as_str()), "{n}: {p}");
            }
        }
        assert_eq!(spoken(10_000), "九千九百九十九");
        assert_eq!(spoken(usize::MAX), "九千九百九十九");
    }
}
