#!/usr/bin/env bash
# Make the Mandarin IVR prompts in prompts/zh/ and their manifest.
#
#   prompts/make-prompts.sh            # (re)make every prompt
#   prompts/make-prompts.sh welcome    # (re)make only the named prompts
#
# Each prompt is spoken by espeak-ng's `cmn-latn-pinyin` voice from tone-numbered pinyin
# (Debian's `cmn` voice lacks many common characters and reads them as English), then
# converted by sox to what the media crate plays: 8 kHz, mono, 16-bit signed PCM WAV,
# leading/trailing silence trimmed to a short pad (30 ms before, 80 ms after: prompts are
# chained, e.g. 每天 + 八 + 点, and the pads add up), peak normalized to -3 dBFS.
# `beep` is a synthesized 1000 Hz tone and `queue_music` (hold music between queue
# announcements) a soft synthesized two-tone chime, low in volume; neither is speech.
#
# The names are the contract with the server (config/ivr.toml refers to them). To use a
# recorded human voice instead, replace prompts/zh/NAME.wav with a file of the same name
# and format; prompts/zh/manifest.toml lists the text each file must say.
# `hotline check-config` verifies every prompt the IVR config names exists in that format.
#
# Re-runnable: output is overwritten; sox runs in repeatable mode (-R) so an unchanged
# table gives byte-identical files.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$here/zh"
voice="cmn-latn-pinyin"
# Words (here: syllables) per minute. 250 is about 6 syllables a second, a brisk but clear
# Mandarin pace; with the short texts below a caller hears the whole menu within 12 s of
# the answer and, outside staffed hours, the tone within 20 s (checked by the ivr crate's
# tests from these files' lengths, and end to end over RTP).
speed=250

for tool in espeak-ng sox; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "make-prompts: '$tool' not found; install it first (Debian/Ubuntu: apt-get install -y espeak-ng sox)" >&2
        exit 1
    fi
done
if ! espeak-ng --voices=cmn 2>/dev/null | grep -q "$voice"; then
    echo "make-prompts: espeak-ng has no '$voice' voice (espeak-ng-data is too old or incomplete)" >&2
    exit 1
fi

# name | Chinese text | tone-numbered pinyin spoken by espeak-ng
# Numbers are spelled out as they are read on a Chinese phone line ("1" is yao1), except the
# num_* prompts: queue positions are counts read the Chinese way (一百零五, "1" is yi1), put
# together by the IVR from 零…九, 十, 百, 千; dates read back by the status query use them too
# (二零二六 年 十一 月 二十一 日: a year's digits are read yi1, not yao1), and so do the staffed
# hours the closed notice reads from config/ivr.toml (每天 八 点 至 二十二 点: every_day,
# weekday_*, hours_to, hour, minute, hours_and, day_off, all_day).
prompts=(
    "welcome|欢迎致电12345热线。|huan1 ying2 zhi4 dian4 yao1 er4 san1 si4 wu3 re4 xian4."
    "emergency|紧急情况请拨119、120、110、122。|jin3 ji2 qing2 kuang4 qing3 bo1 yao1 yao1 jiu3, yao1 er4 ling2, yao1 yao1 ling2, yao1 er4 er4."
    "menu|咨询按1,投诉举报按2,企业服务按3,人工服务按0。|zi1 xun2 an4 yi1, tou2 su4 ju3 bao4 an4 er4, qi3 ye4 fu2 wu4 an4 san1, ren2 gong1 fu2 wu4 an4 ling2."
    "invalid|输入有误,请重新选择。|shu1 ru4 you3 wu4, qing3 chong2 xin1 xuan3 ze2."
    "closed|现在是非工作时间。|xian4 zai4 shi4 fei1 gong1 zuo4 shi2 jian1."
    "closed_hours|人工服务时间为|ren2 gong1 fu2 wu4 shi2 jian1 wei2"
    "agents_busy|座席全忙。|zuo4 xi2 quan2 mang2."
    "voicemail|请在提示音后留言,说明姓名、电话和诉求,按井号键结束。|qing3 zai4 ti2 shi4 yin1 hou4 liu2 yan2, shuo1 ming2 xing4 ming2, dian4 hua4 he2 su4 qiu2, an4 jing3 hao4 jian4 jie2 shu4."
    "recorded|您的留言已记录,工作人员将尽快给您回电。|nin2 de liu2 yan2 yi3 ji4 lu4, gong1 zuo4 ren2 yuan2 jiang1 jin3 kuai4 gei3 nin2 hui2 dian4."
    "no_message|没有收到您的留言。|mei2 you3 shou1 dao4 nin2 de liu2 yan2."
    "ticket_is|您的工单号是|nin2 de gong1 dan1 hao4 shi4"
    "goodbye|感谢您的来电,再见。|gan3 xie4 nin2 de lai2 dian4, zai4 jian4."
    "digit_0|0|ling2"
    "digit_1|1|yao1"
    "digit_2|2|er4"
    "digit_3|3|san1"
    "digit_4|4|si4"
    "digit_5|5|wu3"
    "digit_6|6|liu4"
    "digit_7|7|qi1"
    "digit_8|8|ba1"
    "digit_9|9|jiu3"
    "queue_comfort|正在为您转接人工服务,请稍候。|zheng4 zai4 wei4 nin2 zhuan3 jie1 ren2 gong1 fu2 wu4, qing3 shao1 hou4."
    "queue_position_before|您前面还有|nin2 qian2 mian4 hai2 you3"
    "queue_position_after|位|wei4"
    "queue_callback_offer|如不想等待,需要回电请按1。|ru2 bu4 xiang3 deng3 dai4, xu1 yao4 hui2 dian4 qing3 an4 yi1."
    "callback_confirm|我们已记录您的回电请求,工作人员将尽快给您回电。|wo3 men yi3 ji4 lu4 nin2 de hui2 dian4 qing3 qiu2, gong1 zuo4 ren2 yuan2 jiang1 jin3 kuai4 gei3 nin2 hui2 dian4."
    "queue_timeout|等待时间过长,请在提示音后留言。|deng3 dai4 shi2 jian1 guo4 chang2, qing3 zai4 ti2 shi4 yin1 hou4 liu2 yan2."
    "survey|请对我们的服务进行评价:满意请按1,基本满意请按2,不满意请按3。|qing3 dui4 wo3 men de fu2 wu4 jin4 xing2 ping2 jia4: man3 yi4 qing3 an4 yi1, ji1 ben3 man3 yi4 qing3 an4 er4, bu4 man3 yi4 qing3 an4 san1."
    "thanks|感谢您的评价,再见。|gan3 xie4 nin2 de ping2 jia4, zai4 jian4."
    "agent_ready|已签入,示闲。|yi3 qian1 ru4, shi4 xian2."
    "callback_connecting|回拨任务,正在接通市民,请稍候。|hui2 bo1 ren4 wu4, zheng4 zai4 jie1 tong1 shi4 min2, qing3 shao1 hou4."
    "callback_unreached|市民未接通,已记录,稍后将再次回拨。|shi4 min2 wei4 jie1 tong1, yi3 ji4 lu4, shao1 hou4 jiang1 zai4 ci4 hui2 bo1."
    "revisit_intro|您好,这里是12345热线,现对您反映问题的办理结果进行回访。|nin2 hao3, zhe4 li3 shi4 yao1 er4 san1 si4 wu3 re4 xian4, xian4 dui4 nin2 fan3 ying4 wen4 ti2 de ban4 li3 jie2 guo3 jin4 xing2 hui2 fang3."
    "revisit_question|对办理结果,满意请按1,基本满意请按2,不满意请按3。|dui4 ban4 li3 jie2 guo3, man3 yi4 qing3 an4 yi1, ji1 ben3 man3 yi4 qing3 an4 er4, bu4 man3 yi4 qing3 an4 san1."
    "agent_not_ready|已示忙。|yi3 shi4 mang2."
    "agent_logged_out|已签出。|yi3 qian1 chu1."
    "agent_unknown_code|无效的功能码。|wu2 xiao4 de gong1 neng2 ma3."
    "agent_not_registered|话机未注册,不能示闲。|hua4 ji1 wei4 zhu4 ce4, bu4 neng2 shi4 xian2."
    "menu_status|查询工单进度按4。|cha2 xun2 gong1 dan1 jin4 du4 an4 si4."
    "status_enter_ticket|请输入您的工单号,以井号键结束。|qing3 shu1 ru4 nin2 de gong1 dan1 hao4, yi3 jing3 hao4 jian4 jie2 shu4."
    "status_not_found|未查询到该工单,请重新输入。|wei4 cha2 xun2 dao4 gai1 gong1 dan1, qing3 chong2 xin1 shu1 ru4."
    "status_not_found_final|未查询到该工单。|wei4 cha2 xun2 dao4 gai1 gong1 dan1."
    "status_not_yours|该工单不属于您的来电号码,无法查询。|gai1 gong1 dan1 bu4 shu3 yu2 nin2 de lai2 dian4 hao4 ma3, wu2 fa3 cha2 xun2."
    "status_is|您的工单目前状态为|nin2 de gong1 dan1 mu4 qian2 zhuang4 tai4 wei2"
    "status_deadline|办理期限为|ban4 li3 qi1 xian4 wei2"
    "state_registered|已受理|yi3 shou4 li3"
    "state_dispatched|已转办相关部门|yi3 zhuan3 ban4 xiang1 guan1 bu4 men2"
    "state_accepted|部门已签收正在办理|bu4 men2 yi3 qian1 shou1, zheng4 zai4 ban4 li3"
    "state_replied|已办结|yi3 ban4 jie2"
    "state_revisited|已回访|yi3 hui2 fang3"
    "state_redo|正在重新办理|zheng4 zai4 chong2 xin1 ban4 li3"
    "state_closed|已办结归档|yi3 ban4 jie2 gui1 dang4"
    "state_answered|已当即答复|yi3 dang1 ji2 da2 fu4"
    "state_forwarded|已转阅相关部门|yi3 zhuan3 yue4 xiang1 guan1 bu4 men2"
    "state_returned|正在重新分派|zheng4 zai4 chong2 xin1 fen1 pai4"
    "state_callback_pending|等待工作人员回电|deng3 dai4 gong1 zuo4 ren2 yuan2 hui2 dian4"
    "year|年|nian2"
    "month|月|yue4"
    "day|日|ri4"
    "num_0|零|ling2"
    "num_1|一|yi1"
    "num_2|二|er4"
    "num_3|三|san1"
    "num_4|四|si4"
    "num_5|五|wu3"
    "num_6|六|liu4"
    "num_7|七|qi1"
    "num_8|八|ba1"
    "num_9|九|jiu3"
    "num_10|十|shi2"
    "num_100|百|bai3"
    "num_1000|千|qian1"
    "every_day|每天|mei3 tian1"
    "weekday_1|周一|zhou1 yi1"
    "weekday_2|周二|zhou1 er4"
    "weekday_3|周三|zhou1 san1"
    "weekday_4|周四|zhou1 si4"
    "weekday_5|周五|zhou1 wu3"
    "weekday_6|周六|zhou1 liu4"
    "weekday_7|周日|zhou1 ri4"
    "hours_to|至|zhi4"
    "hour|点|dian3"
    "minute|分|fen1"
    "hours_and|和|he2"
    "day_off|休息|xiu1 xi"
    "all_day|24小时|er4 shi2 si4 xiao3 shi2"
)
beep_text="(1000 Hz tone, 400 ms)"
music_text="(hold music: soft chime, 523 Hz then 659 Hz, every 2 s, 10 s, peak -20 dBFS)"

wanted=("$@")
is_wanted() {
    [ "${#wanted[@]}" -eq 0 ] && return 0
    local w
    for w in "${wanted[@]}"; do [ "$w" = "$1" ] && return 0; done
    return 1
}

mkdir -p "$out"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# 8 kHz mono 16-bit; trim silence below 0.5% at both ends (keep 30/80 ms pads), peak -3 dBFS.
to_line_format() { # raw.wav out.wav
    sox -R "$1" -r 8000 -c 1 -b 16 -e signed-integer "$2" \
        silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse \
        pad 0.03 0.08 norm -3
}

for row in "${prompts[@]}"; do
    IFS='|' read -r name text pinyin <<<"$row"
    is_wanted "$name" || continue
    espeak-ng -v "$voice" -s "$speed" -w "$tmp/$name.raw.wav" "$pinyin"
    to_line_format "$tmp/$name.raw.wav" "$out/$name.wav"
    echo "made $out/$name.wav"
done

if is_wanted beep; then
    sox -R -n -r 8000 -c 1 -b 16 -e signed-integer "$out/beep.wav" \
        synth 0.4 sine 1000 fade h 0.01 0.4 0.01 norm -3
    echo "made $out/beep.wav"
fi

# Hold music: a 2 s cell (523 Hz 0.4 s, 659 Hz 0.4 s, each faded in and out, then a pause)
# played five times, peak -20 dBFS so it sits well under the announcements (-3 dBFS).
if is_wanted queue_music; then
    cell=(-r 8000 -c 1 -b 16 -e signed-integer)
    sox -R -n "${cell[@]}" "$tmp/tone_a.wav" synth 0.4 sine 523.25 fade q 0.08 0.4 0.15 pad 0 0.1
    sox -R -n "${cell[@]}" "$tmp/tone_b.wav" synth 0.4 sine 659.25 fade q 0.08 0.4 0.15 pad 0 1.1
    sox -R "$tmp/tone_a.wav" "$tmp/tone_b.wav" "${cell[@]}" "$out/queue_music.wav" repeat 4 norm -20
    echo "made $out/queue_music.wav"
fi

# The manifest always lists every prompt, whichever were remade.
toml_str() { # escape for a TOML basic string
    local s="${1//\\/\\\\}"
    printf '"%s"' "${s//\"/\\\"}"
}
{
    echo "# Generated by prompts/make-prompts.sh; do not edit by hand (edit the table in the script)."
    echo "# Every IVR prompt: its file name (NAME.wav beside this file), what it says, and how it"
    echo "# was made. To use a recorded voice, replace NAME.wav with a recording of the same text:"
    echo "# 8 kHz, mono, 16-bit signed PCM WAV."
    echo
    echo "language = \"zh\""
    echo "format = \"wav pcm_s16le 8000 Hz mono\""
    echo "voice = \"espeak-ng $voice, $speed wpm\""
    for row in "${prompts[@]}"; do
        IFS='|' read -r name text pinyin <<<"$row"
        echo
        echo "[[prompt]]"
        echo "name = $(toml_str "$name")"
        echo "text = $(toml_str "$text")"
        echo "pinyin = $(toml_str "$pinyin")"
    done
    echo
    echo "[[prompt]]"
    echo "name = \"beep\""
    echo "text = $(toml_str "$beep_text")"
    echo "pinyin = \"\""
    echo "synth = \"sox synth 0.4 sine 1000\""
    echo
    echo "[[prompt]]"
    echo "name = \"queue_music\""
    echo "text = $(toml_str "$music_text")"
    echo "pinyin = \"\""
    echo "synth = \"sox synth sine 523.25 / 659.25, 2 s cell repeated 5 times, norm -20\""
} >"$out/manifest.toml"
echo "wrote $out/manifest.toml"
