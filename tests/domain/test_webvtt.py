"""pipeline.domain.intake.webvtt: the W3C WebVTT parsing algorithm, on the spec's own examples and
the vtt.js / webvtt-py fixtures in tests/fixtures/formats.

Spec examples are copied from the W3C WebVTT spec (https://www.w3.org/TR/webvtt1/,
source w3c/webvtt index.bs) as rendered, i.e. HTML entities of the spec source
(&lt; &mdash; &trade; &#x0639; ...) replaced by the characters they show.
"""

from __future__ import annotations

import html
from pathlib import Path

import pytest

from pipeline.domain.intake.webvtt import (
    Cue,
    ParsedVTT,
    SkippedCue,
    WebVTTError,
    parse_cue_text,
    parse_timestamp,
    parse_webvtt,
    parse_webvtt_file,
)

DATA = Path(__file__).resolve().parents[1] / "fixtures" / "formats"
VTTJS = DATA / "vttjs"
WEBVTT_PY = DATA / "webvtt-py"


def texts(parsed: ParsedVTT) -> list[str]:
    return [c.text for c in parsed.cues]


def timings(parsed: ParsedVTT) -> list[tuple[float, float]]:
    return [(c.start, c.end) for c in parsed.cues]


def one_cue_text(payload: str, **kw) -> Cue:
    parsed = parse_webvtt("WEBVTT\n\n00:00.000 --> 00:01.000\n" + payload, **kw)
    assert parsed.skipped == []
    assert len(parsed.cues) == 1
    return parsed.cues[0]


# ======================================================================================
# Spec examples, verbatim
# ======================================================================================

# 1.1 A simple caption file
SPEC_SIMPLE_CAPTION_FILE = """WEBVTT

00:11.000 --> 00:13.000
<v Roger Bingham>We are in New York City

00:13.000 --> 00:16.000
<v Roger Bingham>We're actually at the Lucern Hotel, just down the street

00:16.000 --> 00:18.000
<v Roger Bingham>from the American Museum of Natural History

00:18.000 --> 00:20.000
<v Roger Bingham>And with me is Neil deGrasse Tyson

00:20.000 --> 00:22.000
<v Roger Bingham>Astrophysicist, Director of the Hayden Planetarium

00:22.000 --> 00:24.000
<v Roger Bingham>at the AMNH.

00:24.000 --> 00:26.000
<v Roger Bingham>Thank you for walking down here.

00:27.000 --> 00:30.000
<v Roger Bingham>And I want to do a follow-up on the last conversation we did.

00:30.000 --> 00:31.500 align:right size:50%
<v Roger Bingham>When we e-mailed—

00:30.500 --> 00:32.500 align:left size:50%
<v Neil deGrasse Tyson>Didn't we talk about enough in that conversation?

00:32.000 --> 00:35.500 align:right size:50%
<v Roger Bingham>No! No no no no; 'cos 'cos obviously 'cos

00:32.500 --> 00:33.500 align:left size:50%
<v Neil deGrasse Tyson><i>Laughs</i>

00:35.500 --> 00:38.000
<v Roger Bingham>You know I'm so excited my glasses are falling off here.
"""

# 1.2 Caption cues with multiple lines
SPEC_MULTIPLE_LINES = """WEBVTT

00:01.000 --> 00:04.000
Never drink liquid nitrogen.

00:05.000 --> 00:09.000
— It will perforate your stomach.
— You could die.

00:10.000 --> 00:14.000
The Organisation for Sample Public Service Announcements accepts no liability for the content of this advertisement, or for the consequences of any actions taken on the basis of the information provided.
"""

# 1.3 Styling captions: style blocks
SPEC_STYLE_BLOCKS = """WEBVTT

STYLE
::cue {
  background-image: linear-gradient(to bottom, dimgray, lightgray);
  color: papayawhip;
}
/* Style blocks cannot use blank lines nor "dash dash greater than" */

NOTE comment blocks can be used between style blocks.

STYLE
::cue(b) {
  color: peachpuff;
}

hello
00:00:00.000 --> 00:00:10.000
Hello <b>world</b>.

NOTE style blocks cannot appear after the first cue.
"""

# 1.4 Other features: identifiers
SPEC_IDENTIFIERS = """WEBVTT

test
00:00.000 --> 00:02.000
This is a test.

123
00:00.000 --> 00:02.000
That's an, an, that's an L!

crédit de transcription
00:04.000 --> 00:05.000
Transcrit par Célestes™
"""

# 1.4 Other features: classes and language
SPEC_CLASSES_AND_LANG = """WEBVTT

04:02.500 --> 04:05.000
J'ai commencé le basket à l'âge de 13, 14 ans

04:05.001 --> 04:07.800
Sur les <i.foreignphrase><lang en>playground</lang></i>, ici à Montpellier
"""

# 1.4 Other features: voice spans
SPEC_VOICE_SPANS = """WEBVTT

00:00.000 --> 00:02.000
<v.first.loud Esme>It's a blue apple tree!

00:02.000 --> 00:04.000
<v Mary>No way!

00:04.000 --> 00:06.000
<v Esme>Hee!</v> <i>laughter</i>

00:06.000 --> 00:08.000
<v.loud Mary>That's awesome!
"""

# 1.4 Other features: positioning
SPEC_POSITIONING = """WEBVTT

00:00:00.000 --> 00:00:04.000 position:10%,line-left align:left size:35%
Where did he go?

00:00:03.000 --> 00:00:06.500 position:90% align:right size:35%
I think he went down this lane.

00:00:04.000 --> 00:00:06.500 position:45%,line-right align:center size:35%
What are you waiting for?
"""

# 1.4 Other features: regions
SPEC_REGIONS = """WEBVTT

REGION
id:fred
width:40%
lines:3
regionanchor:0%,100%
viewportanchor:10%,90%
scroll:up

REGION
id:bill
width:40%
lines:3
regionanchor:100%,100%
viewportanchor:90%,90%
scroll:up

00:00:00.000 --> 00:00:20.000 region:fred align:left
<v Fred>Hi, my name is Fred

00:00:02.500 --> 00:00:22.500 region:bill align:right
<v Bill>Hi, I'm Bill

00:00:05.000 --> 00:00:25.000 region:fred align:left
<v Fred>Would you like to get a coffee?

00:00:07.500 --> 00:00:27.500 region:bill align:right
<v Bill>Sure! I've only had one today.

00:00:10.000 --> 00:00:30.000 region:fred align:left
<v Fred>This is my fourth!

00:00:12.500 --> 00:00:32.500 region:fred align:left
<v Fred>OK, let's go.
"""

# 1.4 Other features: ATTRIBUTES (subtitles)
SPEC_ATTRIBUTES_SUBTITLES = """WEBVTT

ATTRIBUTES
kind: subtitles
lang: es-mx
label: Español

NOTE
Standard subtitles (unlike CC or SDH captions) typically 
translate spoken dialog or signage, but not audible sound 
effects like "dogs barking."

1
00:00:10.123 --> 00:00:15.432
¡Hola! ¿Qué tál?
"""

# 1.4 Other features: ATTRIBUTES (captions)
SPEC_ATTRIBUTES_CAPTIONS = """WEBVTT

ATTRIBUTES
kind: captions
lang: es-mx
label: Español (SDH)

NOTE
Captions (SDH aka Subtitles for the Deaf and Hard-of-Hearing) 
typically include spoken dialog as well as important audible 
sounds such as "floor boards creak", "dogs barking", or in 
this case, "music".

1
00:00:10.123 --> 00:00:15.432
¡Hola! ¿Qué tál?

2
00:00:47.462 --> 00:01:04.028
[♫ música ♫]
"""

# 1.5 Comments in WebVTT (one-line comment)
SPEC_COMMENT_ONE_LINE = """WEBVTT

00:01.000 --> 00:04.000
Never drink liquid nitrogen.

NOTE I'm not sure the timing is right on the following cue.

00:05.000 --> 00:09.000
— It will perforate your stomach.
— You could die.
"""

# 1.5 Comments in WebVTT (many comments)
SPEC_COMMENTS_MANY = """WEBVTT

NOTE
This file was written by Jill. I hope
you enjoy reading it. Some things to
bear in mind:
- I was lip-reading, so the cues may
not be 100% accurate
- I didn't pay too close attention to
when the cues should start or end.

00:01.000 --> 00:04.000
Never drink liquid nitrogen.

NOTE check next cue

00:05.000 --> 00:09.000
— It will perforate your stomach.
— You could die.

NOTE end of file
"""

# 1.6 Chapters example
SPEC_CHAPTERS = """WEBVTT

NOTE
This is from a talk Silvia gave about WebVTT.

Slide 1
00:00:00.000 --> 00:00:10.700
Title Slide

Slide 2
00:00:10.700 --> 00:00:47.600
Introduction by Naomi Black

Slide 3
00:00:47.600 --> 00:01:50.100
Impact of Captions on the Web

Slide 4
00:01:50.100 --> 00:03:33.000
Requirements of a Video text format
"""

# 1.6 Descriptions (ATTRIBUTES kind: descriptions)
SPEC_DESCRIPTIONS = """WEBVTT

ATTRIBUTES
kind: descriptions
lang: en-us
label: English (AD)

NOTE
VTT-based descriptions are meant to render as text-to-speech audio or braille,
for blind or deafblind audiences, not usually as visual captions on screen. 
As such, the option/label might be displayed in an audio menu or elsewhere. 

1
00:00:10.123 --> 00:00:15.432
A young girl tiptoes down a dark hallway.
"""

# 1.7 Metadata example
SPEC_METADATA = """WEBVTT

ATTRIBUTES
kind: metadata

NOTE
Thanks to http://output.jsbin.com/mugibo

1
00:00:00.100 --> 00:00:07.342
{
 "type": "WikipediaPage",
 "url": "https://en.wikipedia.org/wiki/Samurai_Pizza_Cats"
}

2
00:07.810 --> 00:09.221
{
 "type": "WikipediaPage",
 "url" :"http://samuraipizzacats.wikia.com/wiki/Samurai_Pizza_Cats_Wiki"
}

3
00:11.441 --> 00:14.441
{
 "type": "LongLat",
 "lat" : "36.198269",
 "long": "137.2315355"
}
"""

# 1.7 Metadata example (thumbnails)
SPEC_METADATA_THUMBNAILS = """WEBVTT

ATTRIBUTES
kind: metadata

00:00:01.959 --> 00:00:02.938
{
 "src": "https://cdn.example.com/thumbnails.jpg#xywh=0,0,284,160",
 "alt": {
  "en-us": "Miguel crosses the marigold bridge to the land of the dead.",
  "es-mx": "Miguel cruza el puente marigold hacia la tierra de los muertos."
 }
}
"""

# 3.1 text alignment: bidi examples (letters written with escapes, same characters)
SPEC_BIDI_ARABIC = (
    "WEBVTT\n"
    "\n"
    "00:00:07.000 --> 00:00:09.000\n"
    "What was his name again?\n"
    "\n"
    "00:00:09.000 --> 00:00:11.000\n"
    "\u0639\u0627\u0644\u064a, I think.\n"
)
SPEC_BIDI_HEBREW = (
    "WEBVTT\n"
    "\n"
    "00:00:04.000 --> 00:00:08.000\n"
    "I've read the book \u05e0\u05d5\u05d9\u05dc\u05e0\u05d3 3 times!\n"
)
SPEC_START_ALIGNMENT = (
    "WEBVTT\n"
    "\n"
    "00:00:00.000 --> 00:00:05.000 align:start\n"
    "Hello!\n"
    "\u05e9\u05dc\u05d5\u05dd!\n"
)

# 4.5 Properties of cue sequences: nested cues / not nested
SPEC_NESTED_CUES = """WEBVTT

00:00.000 --> 01:24.000
Introduction

00:00.000 --> 00:44.000
Topics

00:44.000 --> 01:19.000
Presenters

01:24.000 --> 05:00.000
Scrolling Effects

01:35.000 --> 03:00.000
Achim's Demo

03:00.000 --> 05:00.000
Timeline Panel
"""
SPEC_NOT_NESTED_CUES = """WEBVTT

00:00.000 --> 01:00.000
The First Minute

00:30.000 --> 01:30.000
The Final Minute
"""

# 5 Default classes
SPEC_DEFAULT_CLASSES = """WEBVTT

02:00.000 --> 02:05.000
<c.yellow.bg_blue>This is yellow text on a blue background</c>

04:00.000 --> 04:05.000
<c.yellow.bg_blue.magenta.bg_black>This is magenta text on a black background</c>
"""

# 7.x Obtaining CSS boxes: cascade example
SPEC_CASCADE = """WEBVTT

STYLE
::cue { color:lime }

00:00:00.000 --> 00:00:25.000
Red or green?
"""

# 8.1 CSS extensions: selector examples
SPEC_CSS_CUE = """WEBVTT

00:00:00.000 --> 00:00:08.000
Yellow!

00:00:08.000 --> 00:00:16.000
Also yellow!
"""
SPEC_CSS_ID = """WEBVTT

cue1
00:00:00.000 --> 00:00:08.000
Yellow!
"""
SPEC_CSS_TYPE = """WEBVTT

00:00:00.000 --> 00:00:08.000
<c>Yellow!</c>
<i>Yellow!</i>
<u>Yellow!</u>
<b>Yellow!</b>
<u>Yellow!</u>
<ruby>Yellow! <rt>Yellow!</rt></ruby>
<v Kathryn>Yellow!</v>
<lang en>Yellow!</lang>
"""
SPEC_CSS_CLASS = """WEBVTT

00:00:00.000 --> 00:00:08.000
<c.loud>Yellow!</c>
<i.loud>Yellow!</i>
<u.loud>Yellow!</u>
<b.loud>Yellow!</b>
<u.loud>Yellow!</u>
<ruby.loud>Yellow! <rt.loud>Yellow!</rt></ruby>
<v.loud Kathryn>Yellow!</v>
<lang.loud en>Yellow!</lang>
"""
SPEC_CSS_ATTRIBUTE = """WEBVTT

00:00:00.000 --> 00:00:08.000
Yellow!

00:00:08.000 --> 00:00:16.000
<lang en-GB>Cyan!</lang>

00:00:16.000 --> 00:00:24.000
<v Kathryn>I like lime.</v>
"""
SPEC_CSS_LANG = """WEBVTT

00:00:00.000 --> 00:00:08.000
Yellow!

00:00:08.000 --> 00:00:16.000
<lang en-GB>Cyan!</lang>
"""
SPEC_CSS_PAST_FUTURE = """WEBVTT

00:00:00.000 --> 00:00:08.000
<c>No match (no timestamps)</c>

00:00:08.000 --> 00:00:16.000
No match <00:00:12.000> (no elements)

00:00:16.000 --> 00:00:24.000
<00:00:16.000> <c>This</c>
<00:00:18.000> <c>can</c>
<00:00:20.000> <c>match</c>
<00:00:22.000> <c>:past/:future</c>
<00:00:24.000>
"""
SPEC_CSS_CUE_REGION = """WEBVTT

REGION
id:editor-comments
regionanchor:0%,0%
viewportanchor:0%,0%

00:00:00.000 --> 00:00:08.000
No match (normal cue)

00:00:08.000 --> 00:00:16.000 region:editor-comments
Yellow!
"""
SPEC_CSS_CUE_REGION_ID = """WEBVTT

REGION
id:editor-comments
width:40%
regionanchor:0%,100%
viewportanchor:10%,90%

REGION
id:scroll
width:40%
regionanchor:100%,100%
viewportanchor:90%,90%
scroll:up

00:00:00.000 --> 00:00:08.000
No match (normal cue)

00:00:08.000 --> 00:00:16.000 region:editor-comments
Yellow!

00:00:10.000 --> 00:00:16.000 region:scroll
Over here it's Cyan!
"""

# (id, start, end, settings, text) for every cue of each example; no example has a skip.
SPEC_EXPECTED: dict[str, tuple[str, list[tuple[str, float, float, str, str]]]] = {
    "simple_caption_file": (SPEC_SIMPLE_CAPTION_FILE, [
        ("", 11.0, 13.0, "", "We are in New York City"),
        ("", 13.0, 16.0, "", "We're actually at the Lucern Hotel, just down the street"),
        ("", 16.0, 18.0, "", "from the American Museum of Natural History"),
        ("", 18.0, 20.0, "", "And with me is Neil deGrasse Tyson"),
        ("", 20.0, 22.0, "", "Astrophysicist, Director of the Hayden Planetarium"),
        ("", 22.0, 24.0, "", "at the AMNH."),
        ("", 24.0, 26.0, "", "Thank you for walking down here."),
        ("", 27.0, 30.0, "", "And I want to do a follow-up on the last conversation we did."),
        ("", 30.0, 31.5, "align:right size:50%", "When we e-mailed\u2014"),
        ("", 30.5, 32.5, "align:left size:50%", "Didn't we talk about enough in that conversation?"),
        ("", 32.0, 35.5, "align:right size:50%", "No! No no no no; 'cos 'cos obviously 'cos"),
        ("", 32.5, 33.5, "align:left size:50%", "Laughs"),
        ("", 35.5, 38.0, "", "You know I'm so excited my glasses are falling off here."),
    ]),
    "multiple_lines": (SPEC_MULTIPLE_LINES, [
        ("", 1.0, 4.0, "", "Never drink liquid nitrogen."),
        ("", 5.0, 9.0, "", "\u2014 It will perforate your stomach.\n\u2014 You could die."),
        ("", 10.0, 14.0, "", "The Organisation for Sample Public Service Announcements accepts no "
         "liability for the content of this advertisement, or for the consequences of any "
         "actions taken on the basis of the information provided."),
    ]),
    "style_blocks": (SPEC_STYLE_BLOCKS, [("hello", 0.0, 10.0, "", "Hello world.")]),
    "identifiers": (SPEC_IDENTIFIERS, [
        ("test", 0.0, 2.0, "", "This is a test."),
        ("123", 0.0, 2.0, "", "That's an, an, that's an L!"),
        ("crédit de transcription", 4.0, 5.0, "", "Transcrit par Célestes\u2122"),
    ]),
    "classes_and_lang": (SPEC_CLASSES_AND_LANG, [
        ("", 242.5, 245.0, "", "J'ai commencé le basket à l'âge de 13, 14 ans"),
        ("", 245.001, 247.8, "", "Sur les playground, ici à Montpellier"),
    ]),
    "voice_spans": (SPEC_VOICE_SPANS, [
        ("", 0.0, 2.0, "", "It's a blue apple tree!"),
        ("", 2.0, 4.0, "", "No way!"),
        ("", 4.0, 6.0, "", "Hee! laughter"),
        ("", 6.0, 8.0, "", "That's awesome!"),
    ]),
    "positioning": (SPEC_POSITIONING, [
        ("", 0.0, 4.0, "position:10%,line-left align:left size:35%", "Where did he go?"),
        ("", 3.0, 6.5, "position:90% align:right size:35%", "I think he went down this lane."),
        ("", 4.0, 6.5, "position:45%,line-right align:center size:35%", "What are you waiting for?"),
    ]),
    "regions": (SPEC_REGIONS, [
        ("", 0.0, 20.0, "region:fred align:left", "Hi, my name is Fred"),
        ("", 2.5, 22.5, "region:bill align:right", "Hi, I'm Bill"),
        ("", 5.0, 25.0, "region:fred align:left", "Would you like to get a coffee?"),
        ("", 7.5, 27.5, "region:bill align:right", "Sure! I've only had one today."),
        ("", 10.0, 30.0, "region:fred align:left", "This is my fourth!"),
        ("", 12.5, 32.5, "region:fred align:left", "OK, let's go."),
    ]),
    "attributes_subtitles": (SPEC_ATTRIBUTES_SUBTITLES, [
        ("1", 10.123, 15.432, "", "¡Hola! ¿Qué tál?"),
    ]),
    "attributes_captions": (SPEC_ATTRIBUTES_CAPTIONS, [
        ("1", 10.123, 15.432, "", "¡Hola! ¿Qué tál?"),
        ("2", 47.462, 64.028, "", "[♫ música ♫]"),
    ]),
    "comment_one_line": (SPEC_COMMENT_ONE_LINE, [
        ("", 1.0, 4.0, "", "Never drink liquid nitrogen."),
        ("", 5.0, 9.0, "", "\u2014 It will perforate your stomach.\n\u2014 You could die."),
    ]),
    "comments_many": (SPEC_COMMENTS_MANY, [
        ("", 1.0, 4.0, "", "Never drink liquid nitrogen."),
        ("", 5.0, 9.0, "", "\u2014 It will perforate your stomach.\n\u2014 You could die."),
    ]),
    "chapters": (SPEC_CHAPTERS, [
        ("Slide 1", 0.0, 10.7, "", "Title Slide"),
        ("Slide 2", 10.7, 47.6, "", "Introduction by Naomi Black"),
        ("Slide 3", 47.6, 110.1, "", "Impact of Captions on the Web"),
        ("Slide 4", 110.1, 213.0, "", "Requirements of a Video text format"),
    ]),
    "descriptions": (SPEC_DESCRIPTIONS, [
        ("1", 10.123, 15.432, "", "A young girl tiptoes down a dark hallway."),
    ]),
    "metadata": (SPEC_METADATA, [
        ("1", 0.1, 7.342, "", '{\n "type": "WikipediaPage",\n'
         ' "url": "https://en.wikipedia.org/wiki/Samurai_Pizza_Cats"\n}'),
        ("2", 7.81, 9.221, "", '{\n "type": "WikipediaPage",\n'
         ' "url" :"http://samuraipizzacats.wikia.com/wiki/Samurai_Pizza_Cats_Wiki"\n}'),
        ("3", 11.441, 14.441, "", '{\n "type": "LongLat",\n "lat" : "36.198269",\n'
         ' "long": "137.2315355"\n}'),
    ]),
    "metadata_thumbnails": (SPEC_METADATA_THUMBNAILS, [
        ("", 1.959, 2.938, "", '{\n "src": "https://cdn.example.com/thumbnails.jpg#xywh=0,0,284,160",\n'
         ' "alt": {\n  "en-us": "Miguel crosses the marigold bridge to the land of the dead.",\n'
         '  "es-mx": "Miguel cruza el puente marigold hacia la tierra de los muertos."\n }\n}'),
    ]),
    "bidi_arabic": (SPEC_BIDI_ARABIC, [
        ("", 7.0, 9.0, "", "What was his name again?"),
        ("", 9.0, 11.0, "", "\u0639\u0627\u0644\u064a, I think."),
    ]),
    "bidi_hebrew": (SPEC_BIDI_HEBREW, [
        ("", 4.0, 8.0, "", "I've read the book \u05e0\u05d5\u05d9\u05dc\u05e0\u05d3 3 times!"),
    ]),
    "start_alignment": (SPEC_START_ALIGNMENT, [
        ("", 0.0, 5.0, "align:start", "Hello!\n\u05e9\u05dc\u05d5\u05dd!"),
    ]),
    "nested_cues": (SPEC_NESTED_CUES, [
        ("", 0.0, 84.0, "", "Introduction"),
        ("", 0.0, 44.0, "", "Topics"),
        ("", 44.0, 79.0, "", "Presenters"),
        ("", 84.0, 300.0, "", "Scrolling Effects"),
        ("", 95.0, 180.0, "", "Achim's Demo"),
        ("", 180.0, 300.0, "", "Timeline Panel"),
    ]),
    "not_nested_cues": (SPEC_NOT_NESTED_CUES, [
        ("", 0.0, 60.0, "", "The First Minute"),
        ("", 30.0, 90.0, "", "The Final Minute"),
    ]),
    "default_classes": (SPEC_DEFAULT_CLASSES, [
        ("", 120.0, 125.0, "", "This is yellow text on a blue background"),
        ("", 240.0, 245.0, "", "This is magenta text on a black background"),
    ]),
    "cascade": (SPEC_CASCADE, [("", 0.0, 25.0, "", "Red or green?")]),
    "css_cue": (SPEC_CSS_CUE, [
        ("", 0.0, 8.0, "", "Yellow!"),
        ("", 8.0, 16.0, "", "Also yellow!"),
    ]),
    "css_id": (SPEC_CSS_ID, [("cue1", 0.0, 8.0, "", "Yellow!")]),
    "css_type": (SPEC_CSS_TYPE, [
        ("", 0.0, 8.0, "", "Yellow!\nYellow!\nYellow!\nYellow!\nYellow!\nYellow! \nYellow!\nYellow!"),
    ]),
    "css_class": (SPEC_CSS_CLASS, [
        ("", 0.0, 8.0, "", "Yellow!\nYellow!\nYellow!\nYellow!\nYellow!\nYellow! \nYellow!\nYellow!"),
    ]),
    "css_attribute": (SPEC_CSS_ATTRIBUTE, [
        ("", 0.0, 8.0, "", "Yellow!"),
        ("", 8.0, 16.0, "", "Cyan!"),
        ("", 16.0, 24.0, "", "I like lime."),
    ]),
    "css_lang": (SPEC_CSS_LANG, [
        ("", 0.0, 8.0, "", "Yellow!"),
        ("", 8.0, 16.0, "", "Cyan!"),
    ]),
    "css_past_future": (SPEC_CSS_PAST_FUTURE, [
        ("", 0.0, 8.0, "", "No match (no timestamps)"),
        ("", 8.0, 16.0, "", "No match  (no elements)"),
        ("", 16.0, 24.0, "", " This\n can\n match\n :past/:future\n"),
    ]),
    "css_cue_region": (SPEC_CSS_CUE_REGION, [
        ("", 0.0, 8.0, "", "No match (normal cue)"),
        ("", 8.0, 16.0, "region:editor-comments", "Yellow!"),
    ]),
    "css_cue_region_id": (SPEC_CSS_CUE_REGION_ID, [
        ("", 0.0, 8.0, "", "No match (normal cue)"),
        ("", 8.0, 16.0, "region:editor-comments", "Yellow!"),
        ("", 10.0, 16.0, "region:scroll", "Over here it's Cyan!"),
    ]),
}


@pytest.mark.parametrize("name", sorted(SPEC_EXPECTED))
def test_spec_examples(name):
    source, expected = SPEC_EXPECTED[name]
    parsed = parse_webvtt(source)
    assert parsed.skipped == []
    assert [(c.id, c.start, c.end, c.settings, c.text) for c in parsed.cues] == expected


def test_spec_simple_caption_file_voices():
    parsed = parse_webvtt(SPEC_SIMPLE_CAPTION_FILE)
    voices = [c.parts[0][0] for c in parsed.cues]
    assert voices == ["Roger Bingham"] * 9 + ["Neil deGrasse Tyson", "Roger Bingham",
                                              "Neil deGrasse Tyson", "Roger Bingham"]
    assert all(len(c.parts) == 1 for c in parsed.cues)
    # <v Neil deGrasse Tyson><i>Laughs</i>: voice kept across the nested <i>
    assert parsed.cues[11].parts == [("Neil deGrasse Tyson", "Laughs")]


def test_spec_voice_spans_parts_and_classes():
    parsed = parse_webvtt(SPEC_VOICE_SPANS)
    assert [c.parts for c in parsed.cues] == [
        [("Esme", "It's a blue apple tree!")],
        [("Mary", "No way!")],
        [("Esme", "Hee!"), (None, "laughter")],
        [("Mary", "That's awesome!")],
    ]
    first_voice = parse_cue_text(parsed.cues[0].raw_text).children[0]
    assert (first_voice.kind, first_voice.value, first_voice.classes) == ("v", "Esme", ["first", "loud"])
    last_voice = parse_cue_text(parsed.cues[3].raw_text).children[0]
    assert (last_voice.kind, last_voice.value, last_voice.classes) == ("v", "Mary", ["loud"])


def test_spec_regions_voices():
    parsed = parse_webvtt(SPEC_REGIONS)
    assert [c.parts[0][0] for c in parsed.cues] == ["Fred", "Bill", "Fred", "Bill", "Fred", "Fred"]


def test_spec_classes_and_lang_tree():
    parsed = parse_webvtt(SPEC_CLASSES_AND_LANG)
    root = parse_cue_text(parsed.cues[1].raw_text)
    italic = root.children[1]
    assert (italic.kind, italic.classes) == ("i", ["foreignphrase"])
    lang = italic.children[0]
    assert lang.kind == "lang"
    assert lang.children[0].value == "playground"
    # the language annotation applies to nodes opened inside <lang en>
    inner = parse_cue_text("<lang en><b>x</b></lang>").children[0].children[0]
    assert (inner.kind, inner.language) == ("b", "en")


def test_spec_css_type_selectors_ruby_and_voice():
    cue = parse_webvtt(SPEC_CSS_TYPE).cues[0]
    assert cue.parts == [
        (None, "Yellow!\nYellow!\nYellow!\nYellow!\nYellow!\nYellow!"),
        ("Kathryn", "Yellow!"),
        (None, "Yellow!"),
    ]
    with_rt = parse_webvtt(SPEC_CSS_TYPE, include_ruby_text=True).cues[0]
    assert "Yellow! Yellow!\n" in with_rt.text  # ruby base + ruby text


def test_spec_css_class_selectors_classes():
    root = parse_cue_text(parse_webvtt(SPEC_CSS_CLASS).cues[0].raw_text)
    internal = [n for n in root.children if n.kind != "text"]
    assert [(n.kind, n.classes) for n in internal] == [
        ("c", ["loud"]), ("i", ["loud"]), ("u", ["loud"]), ("b", ["loud"]), ("u", ["loud"]),
        ("ruby", ["loud"]), ("v", ["loud"]), ("lang", ["loud"]),
    ]
    ruby = internal[5]
    assert [(n.kind, n.classes) for n in ruby.children] == [("text", []), ("rt", ["loud"])]


def test_spec_css_attribute_lang_value():
    parsed = parse_webvtt(SPEC_CSS_ATTRIBUTE)
    lang = parse_cue_text(parsed.cues[1].raw_text).children[0]
    assert (lang.kind, lang.children[0].language) == ("lang", None)
    nested = parse_cue_text("<lang en-GB><c>x</c></lang>").children[0].children[0]
    assert nested.language == "en-GB"
    assert parsed.cues[2].parts == [("Kathryn", "I like lime.")]


def test_spec_css_past_future_timestamps():
    parsed = parse_webvtt(SPEC_CSS_PAST_FUTURE)
    root = parse_cue_text(parsed.cues[2].raw_text)
    stamps = [n.value for n in root.children if n.kind == "timestamp"]
    assert stamps == [16.0, 18.0, 20.0, 22.0, 24.0]
    assert parsed.cues[2].parts == [(None, "This\n can\n match\n :past/:future")]
    middle = parse_cue_text(parsed.cues[1].raw_text)
    assert [n.kind for n in middle.children] == ["text", "timestamp", "text"]


def test_spec_character_reference_mentions():
    # "start the line with an U+200E LEFT-TO-RIGHT MARK character (it can be escaped as "&lrm;")"
    cue = one_cue_text("&lrm;\u0639\u0627\u0644\u064a, I think.")
    assert cue.text == "\u200e\u0639\u0627\u0644\u064a, I think."
    # "(Those characters can be escaped as "&#x2068;" and "&#x2069;", respectively.)"
    cue = one_cue_text("I've read the book &#x2068;\u05e0\u05d5\u05d9\u05dc\u05e0\u05d3&#x2069; 3 times!")
    assert cue.text == "I've read the book \u2068\u05e0\u05d5\u05d9\u05dc\u05e0\u05d3\u2069 3 times!"
    # the identifier example written with a character reference instead of the character
    parsed = parse_webvtt(SPEC_IDENTIFIERS.replace("Célestes™", "Célestes&trade;"))
    assert parsed.cues[2].text == "Transcrit par Célestes\u2122"


def test_spec_style_and_region_blocks_are_not_cues_or_skips():
    for source in (SPEC_STYLE_BLOCKS, SPEC_REGIONS, SPEC_CASCADE, SPEC_CSS_CUE_REGION_ID):
        parsed = parse_webvtt(source)
        assert parsed.skipped == []
        assert not any("::cue" in c.raw_text or "id:" in c.raw_text for c in parsed.cues)


# ======================================================================================
# Header / signature
# ======================================================================================


@pytest.mark.parametrize(
    "source",
    ["", "WEBVT", "WEBVTX", "webvtt\n\n", "WEBVTT-\n", "WEBVTTX\n", "WEBVTT:\n", " WEBVTT\n",
     "\ufeff\ufeffWEBVTT\n", "\nWEBVTT\n", "1\n00:00:00,500 --> 00:00:07,000\nx\n",
     "WEBVTT\u00a0title\n"],
)
def test_bad_signature_raises(source):
    with pytest.raises(WebVTTError) as info:
        parse_webvtt(source)
    assert isinstance(info.value, ValueError)
    assert "WEBVTT" in str(info.value)


@pytest.mark.parametrize(
    "source",
    ["WEBVTT", "WEBVTT\n", "WEBVTT ", "WEBVTT\t", "WEBVTT - Translation of that film I like\n",
     "WEBVTT\ttab title\n\n", "\ufeffWEBVTT", "WEBVTT\r\n", "WEBVTT\r"],
)
def test_good_signature_without_cues(source):
    assert parse_webvtt(source) == ParsedVTT(cues=[], skipped=[])


def test_bom_crlf_cr_and_bytes():
    lf = "WEBVTT\n\n00:01.000 --> 00:02.000\nline one\nline two\n\nbad\n00:03.000 --> 0:04.000\nx\n"
    expected = parse_webvtt(lf)
    assert texts(expected) == ["line one\nline two"]
    assert expected.skipped[0].line == 7
    for variant in (lf.replace("\n", "\r\n"), lf.replace("\n", "\r"), "\ufeff" + lf):
        assert parse_webvtt(variant) == expected
    assert parse_webvtt(("\ufeff" + lf.replace("\n", "\r\n")).encode("utf-8")) == expected


def test_bytes_are_utf8_decoded_with_replacement():
    parsed = parse_webvtt(b"WEBVTT\n\n00:01.000 --> 00:02.000\ncaf\xc3\xa9 \xff\n")
    assert texts(parsed) == ["caf\u00e9 \ufffd"]


def test_null_characters_become_replacement_characters():
    assert one_cue_text("a\x00b").text == "a\ufffdb"


def test_header_block_and_cue_without_blank_line_after_header():
    assert texts(parse_webvtt("WEBVTT\n00:00.000 --> 00:01.000\nHi")) == ["Hi"]
    parsed = parse_webvtt("WEBVTT\nKind: captions\nLanguage: en\n00:00.000 --> 00:01.000\nHi\n")
    assert texts(parsed) == ["Hi"] and parsed.skipped == []


# ======================================================================================
# Timestamps and timing lines
# ======================================================================================


@pytest.mark.parametrize(
    "stamp, seconds",
    [("00:00.000", 0.0), ("01:02.003", 62.003), ("59:59.999", 3599.999),
     ("00:00:00.000", 0.0), ("01:02:03.004", 3723.004), ("1:02:03.004", 3723.004),
     ("100:00:00.000", 360000.0), ("00:00:11.890", 11.89)],
)
def test_parse_timestamp_valid(stamp, seconds):
    assert parse_timestamp(stamp) == seconds


@pytest.mark.parametrize(
    "stamp",
    ["", "0:00.000", "60:00.000", "00:60.000", "00:00:60.000", "00:60:00.000", "00:00.00",
     "00:00.0000", "00:00:00,000", " 00:00.000", "00:00.000 ", "1:2:3.004", "00:0a.000",
     "\u0661\u0662:00.000", "00.000", "00:00:00:00.000", "00:1d.890"],
)
def test_parse_timestamp_invalid(stamp):
    with pytest.raises(ValueError):
        parse_timestamp(stamp)


@pytest.mark.parametrize(
    "line, start, end, settings",
    [("00:00.000 --> 00:01.000", 0.0, 1.0, ""),
     ("00:00.000-->00:01.000", 0.0, 1.0, ""),
     ("  00:00.000\t-->\t00:01.000\tline:0  ", 0.0, 1.0, "line:0"),
     ("00:00.000 --> 00:01.000 align:start size:50%", 0.0, 1.0, "align:start size:50%"),
     ("00:00.000 --> 00:01.000align:start", 0.0, 1.0, "align:start"),
     ("01:00:00.000 --> 00:00:30.000", 3600.0, 30.0, ""),  # end < start is kept (spec)
     ("100:00:00.000 --> 100:00:01.500", 360000.0, 360001.5, "")],
)
def test_timing_line_variants(line, start, end, settings):
    parsed = parse_webvtt(f"WEBVTT\n\n{line}\ntext\n")
    assert parsed.skipped == []
    [cue] = parsed.cues
    assert (cue.start, cue.end, cue.settings, cue.text) == (start, end, settings, "text")


@pytest.mark.parametrize(
    "line, reason_part",
    [("00:00.000 --> 00:01", "bad end timestamp"),
     ("00:00 --> 00:01.000", "bad start timestamp"),
     ("00:00.000 --> ", "bad end timestamp"),
     ("00:00.000 x--> 00:01.000", "expected '-->'"),
     ("00:00.000 -- > 00:01.000", "no cue timing line"),  # no "-->" at all: not a timing line
     ("x 00:00.000 --> 00:01.000", "bad start timestamp"),
     ("00:00:00,500 --> 00:00:07,000", "bad start timestamp")],
)
def test_bad_timing_line_is_skipped_and_reported(line, reason_part):
    source = f"WEBVTT\n\n00:00.000 --> 00:00.500\nfirst\n\n{line}\nbad\n\n00:02.000 --> 00:03.000\nlast\n"
    parsed = parse_webvtt(source)
    assert texts(parsed) == ["first", "last"]
    assert len(parsed.skipped) == 1 and parsed.skipped_count == 1
    assert parsed.skipped[0].line == 6
    assert reason_part in parsed.skipped[0].reason


# ======================================================================================
# Blocks: identifiers, arrows in identifiers, skipping, line numbers
# ======================================================================================

ARROW_ID_FILE = """WEBVTT

1
00:00:01.000 --> 00:00:02.000
<v Alice>Hello there.

2
00:00:02.500 --> 00:00:04.000
<v Bob>Hi Alice.

intro-->3
00:00:04.500 --> 00:00:06.000
<v Alice>How are you?

4
00:00:06.500 --> 00:00:08.000
<v Bob>Fine, thanks.

5
00:00:08.500 --> 00:00:10.000
<v Alice>Good.
"""


def test_identifier_containing_arrow_in_otherwise_good_file():
    parsed = parse_webvtt(ARROW_ID_FILE)
    # every good cue is kept, in order
    assert [(c.id, c.parts) for c in parsed.cues] == [
        ("1", [("Alice", "Hello there.")]),
        ("2", [("Bob", "Hi Alice.")]),
        # spec: "intro-->3" is parsed as the timing line, fails, and the block ends when
        # the real timing line (line 12) is reached; that line starts a new cue, so the
        # cue survives without its identifier.
        ("", [("Alice", "How are you?")]),
        ("4", [("Bob", "Fine, thanks.")]),
        ("5", [("Alice", "Good.")]),
    ]
    assert [c.line for c in parsed.cues] == [3, 7, 12, 15, 19]
    assert parsed.skipped_count == 1
    [skip] = parsed.skipped
    assert skip.line == 11
    assert "identifier" in skip.reason and "intro" not in skip.reason  # no cue text in reasons


def test_identifier_containing_arrow_followed_by_text_drops_the_block():
    source = ARROW_ID_FILE.replace("intro-->3\n00:00:04.500 --> 00:00:06.000\n", "intro-->3\n")
    parsed = parse_webvtt(source)
    assert [c.id for c in parsed.cues] == ["1", "2", "4", "5"]
    assert [(s.line, "timing" in s.reason) for s in parsed.skipped] == [(11, True)]


def test_identifier_then_bad_timing_drops_the_cue_and_reports_identifier_line():
    source = ARROW_ID_FILE.replace("4\n00:00:06.500 --> 00:00:08.000", "4\n00:00:06.500 --> 00:00:0x.000")
    parsed = parse_webvtt(source)
    assert [c.id for c in parsed.cues] == ["1", "2", "", "5"]
    assert [s.line for s in parsed.skipped] == [11, 15]


def test_arrow_lines_after_the_timing_line_end_the_cue():
    # The spec's parser creates two cues even if the blank line between them is missing.
    parsed = parse_webvtt("WEBVTT\n\n00:01.000 --> 00:02.000\none\n00:03.000 --> 00:04.000\ntwo\n")
    assert timings(parsed) == [(1.0, 2.0), (3.0, 4.0)]
    assert texts(parsed) == ["one", "two"]
    # An identifier that is itself a valid timing line gives an empty cue, then the real one.
    parsed = parse_webvtt("WEBVTT\n\n00:00.000 --> 00:00.500\n00:01.000 --> 00:02.000\nx\n")
    assert [(c.start, c.text) for c in parsed.cues] == [(0.0, ""), (1.0, "x")]


def test_multiple_arrow_identifiers_like_wpt_arrows():
    # Same idea as web-platform-tests webvtt/parsing/file-parsing/tests/arrows (6 cues).
    source = (
        "WEBVTT\n\n"
        "-->\n00:00:00.000 --> 00:00:01.000\ntext0\n"
        "foo-->\n00:00:00.000 --> 00:00:01.000\ntext1\n"
        "-->foo\n00:00:00.000 --> 00:00:01.000\ntext2\n"
        "--->\n00:00:00.000 --> 00:00:01.000\ntext3\n"
        "-->-->\n00:00:00.000 --> 00:00:01.000\ntext4\n"
        "00:00:00.000 --> 00:00:01.000\ntext5\n"
        "\n00:00:00.000 -a -->\n\n00:00:00.000 --a -->\n\n00:00:00.000 - -->\n\n00:00:00.000 -- -->\n"
    )
    parsed = parse_webvtt(source)
    assert texts(parsed) == [f"text{i}" for i in range(6)]
    assert all(c.id == "" for c in parsed.cues)
    assert [s.line for s in parsed.skipped] == [3, 6, 9, 12, 15, 21, 23, 25, 27]


def test_blocks_without_timing_are_reported_unless_note_style_region_attributes():
    source = (
        "WEBVTT\n\n"
        "NOTE a comment\n\n"                                     # 3
        "00:01.000 --> 00:02.000\nfirst\n\n"                     # 5
        "orphan caption text\nsecond line\n\n"                   # 8
        "STYLE\n::cue { color: red }\n\n"                        # 11 (after a cue: ignored)
        "NOTES are not comments\n\n"                             # 14
        "00:03.000 --> 00:04.000\nsecond\n"                      # 16
    )
    parsed = parse_webvtt(source)
    assert texts(parsed) == ["first", "second"]
    assert [s.line for s in parsed.skipped] == [8, 14]
    assert "no cue timing line" in parsed.skipped[0].reason
    assert "orphan" not in parsed.skipped[0].reason  # reasons never carry cue text


def test_note_block_whose_second_line_is_a_timing_line_is_a_cue():
    # Spec parser: an arrow on line 2 of any block is a timing line; "NOTE" becomes the id.
    parsed = parse_webvtt("WEBVTT\n\nNOTE\n00:01.000 --> 00:02.000\nx\n")
    assert [(c.id, c.text) for c in parsed.cues] == [("NOTE", "x")]


def test_cue_with_empty_payload_and_trailing_whitespace_lines():
    parsed = parse_webvtt("WEBVTT\n\nid\n00:01.000 --> 00:02.000\n\n00:03.000 --> 00:04.000\n  \nx\n")
    assert [(c.id, c.raw_text, c.parts) for c in parsed.cues] == [
        ("id", "", []),
        ("", "  \nx", [(None, "x")]),
    ]


# ======================================================================================
# Cue text: tags and voices
# ======================================================================================


def test_voice_kept_across_nested_tags():
    cue = one_cue_text("<v Bob><i>hi</i> there</v>")
    assert cue.parts == [("Bob", "hi there")]
    assert cue.text == "hi there"


def test_voice_with_class():
    assert one_cue_text("<v.loud Speaker>Stop!</v>").parts == [("Speaker", "Stop!")]
    assert one_cue_text("<v.a.b Speaker Name>x").parts == [("Speaker Name", "x")]


def test_multiple_voices_in_one_cue():
    cue = one_cue_text("<v Alice>Hi, Bob.</v>\n<v Bob>Hello, Alice.</v>\n<v Alice>Bye!</v>")
    assert cue.parts == [("Alice", "Hi, Bob."), ("Bob", "Hello, Alice."), ("Alice", "Bye!")]
    assert cue.text == "Hi, Bob.\nHello, Alice.\nBye!"


def test_unclosed_voice_lasts_to_end_of_cue():
    cue = one_cue_text("<v Alice>one\ntwo <i>three</i> <b>four")
    assert cue.parts == [("Alice", "one\ntwo three four")]


def test_voice_followed_by_unvoiced_text_and_new_voice():
    cue = one_cue_text("<v Alice>a</v> b <v Bob>c")
    assert cue.parts == [("Alice", "a"), (None, "b"), ("Bob", "c")]
    assert cue.text == "a b c"


def test_nested_voices_use_innermost():
    cue = one_cue_text("<v Alice>a <v Bob>b</v> c</v>")
    assert cue.parts == [("Alice", "a"), ("Bob", "b"), ("Alice", "c")]


def test_mismatched_end_tag_is_ignored():
    # </v> while <i> is the current node is ignored (spec), so "y" stays in voice A.
    assert one_cue_text("<v A><i>x</v>y").parts == [("A", "xy")]
    assert one_cue_text("a</i>b</v>c</lang>").text == "abc"


def test_voice_without_annotation_and_annotation_whitespace():
    assert one_cue_text("<v>anon</v>").parts == [("", "anon")]
    assert one_cue_text("<v \t Roger \t  Bingham \t>x").parts == [("Roger Bingham", "x")]
    assert one_cue_text("<v\nRoger>x").parts == [("Roger", "x")]


def test_tags_are_case_sensitive_and_unknown_tags_ignored():
    assert one_cue_text("<V Bob>x</V>").parts == [(None, "x")]
    assert one_cue_text('<font color="red">x</font> <span>y</span>').text == "x y"
    assert one_cue_text("a <").text == "a "
    assert one_cue_text("a <>b</>").text == "a b"


def test_c_i_b_u_lang_stripped_text_kept():
    cue = one_cue_text("<c.yellow>c</c><i>i</i><b>b</b><u>u</u><lang en-GB>lang</lang>")
    assert cue.text == "cibulang"
    root = parse_cue_text("<c.yellow..bg_blue.>x</c>")
    assert root.children[0].classes == ["yellow", "bg_blue"]


def test_ruby_text_excluded_by_default_and_optional():
    payload = "<ruby>\u6f22<rt>kan</rt>\u5b57<rt>ji</rt></ruby>!"
    assert one_cue_text(payload).text == "\u6f22\u5b57!"
    assert one_cue_text(payload, include_ruby_text=True).text == "\u6f22kan\u5b57ji!"
    # </ruby> while inside <rt> closes both
    assert one_cue_text("<ruby>a<rt>b</ruby>c", include_ruby_text=True).text == "abc"
    root = parse_cue_text("<ruby>a<rt>b</ruby>c")
    assert [n.kind for n in root.children] == ["ruby", "text"]
    # <rt> outside <ruby> is ignored, its text is ordinary text
    assert one_cue_text("<rt>x</rt>").text == "x"


def test_timestamp_tags_stripped():
    cue = one_cue_text("a <00:00:00.500>b <00:00.700>c <1:00.000>d <00:00.900x>e")
    assert cue.text == "a b c d e"
    root = parse_cue_text("a <00:00:00.500>b <00:00.700>c <1:00.000>d <00:00.900x>e")
    assert [n.value for n in root.children if n.kind == "timestamp"] == [0.5, 0.7]


def test_voice_with_timestamps_and_classes_youtube_style():
    cue = one_cue_text("<v Ann>this<00:05:04.199><c> will</c><c.colorE5E5E5><00:05:04.379><c> happen</c></c>")
    assert cue.parts == [("Ann", "this will happen")]


# ======================================================================================
# Character references
# ======================================================================================


def test_required_named_references():
    cue = one_cue_text("&amp; &lt; &gt; &lrm; &rlm; &nbsp;")
    assert cue.text == "& < > \u200e \u200f \u00a0"
    assert one_cue_text("&nbsp;").text == "\u00a0"
    assert one_cue_text("&lrm;").text == "\u200e"
    assert one_cue_text("&rlm;").text == "\u200f"


def test_tags_written_as_references_are_text():
    cue = one_cue_text("&lt;v Bob&gt;not a voice&lt;/v&gt;")
    assert cue.parts == [(None, "<v Bob>not a voice</v>")]
    assert one_cue_text("&amp;lt;").text == "&lt;"  # decoded once only


@pytest.mark.parametrize(
    "payload, expected",
    [("&#65;&#x42;&#X43;&#x00e9;", "ABC\u00e9"),
     ("&#65", "A"),                      # missing semicolon still decoded (not an attribute)
     ("&#x41x", "Ax"),
     ("&#0;", "\ufffd"),
     ("&#xD800;", "\ufffd"),
     ("&#x110000;", "\ufffd"),
     ("&#99999999999999999999;", "\ufffd"),
     ("&#x80;&#x99;&#x9F;", "\u20ac\u2122\u0178"),  # windows-1252 remapping
     ("&#x81;", "\x81"),
     ("&#1;", "\x01"),                   # kept by browsers; html.unescape deletes it
     ("&#xFFFF;", "\uffff"),
     ("&#13;", "\r"),
     ("&#;", "&#;"),
     ("&#x;", "&#x;"),
     ("&#xZ;", "&#xZ;")],
)
def test_numeric_references(payload, expected):
    assert one_cue_text(payload).text == expected


@pytest.mark.parametrize(
    "payload, expected",
    [("&foo;", "&foo;"),                  # unknown: literal
     ("&bogus &", "&bogus &"),
     ("& amp;", "& amp;"),
     ("&Amp;", "&Amp;"),                  # case-sensitive
     ("&AMP;", "&"),
     ("&amp", "&"),                       # legacy name without ';'
     ("&ampfoo", "&foo"),
     ("&nbsp", "\u00a0"),
     ("&lrm", "&lrm"),                    # not a legacy name: needs ';'
     ("&rlm", "&rlm"),
     ("&notit;", "\u00acit;"),            # HTML spec's own example
     ("&notin;", "\u2209"),
     ("&trade;", "\u2122"),
     ("&mdash;", "\u2014"),
     ("&NotNestedGreaterGreater;", "\u2aa2\u0338"),   # two code points
     ("&CounterClockwiseContourIntegral;", "\u2233")],
)
def test_named_references(payload, expected):
    assert one_cue_text(payload).text == expected


def test_references_in_voice_annotation():
    assert one_cue_text("<v Ben &amp; Jerry>x").parts == [("Ben & Jerry", "x")]
    assert one_cue_text("<v A&gt;B>x").parts == [("A>B", "x")]
    assert one_cue_text("<v A&>x").parts == [("A&", "x")]
    assert one_cue_text("<v &nbsp;A>x").parts == [("\u00a0A", "x")]
    # no whitespace after "v": "&nbsp;A" is part of the tag name, so the tag is ignored
    assert one_cue_text("<v&nbsp;A>x").parts == [(None, "x")]


def test_html_unescape_differs_from_browsers_here():
    # Why html.unescape is not used: it drops these code points, browsers keep them.
    assert html.unescape("&#1;&#xFFFF;") == ""
    assert one_cue_text("&#1;&#xFFFF;").text == "\x01\uffff"


# ======================================================================================
# Shared data files
# ======================================================================================

# Per file: "reject" (WebVTTError, from reading the header) or the expected result.
WEBVTT_PY_EXPECTED = {
    "captions_with_bom.vtt": {
        "texts": [f"Caption text #{i}" for i in range(1, 5)],
        "timings": [(0.5, 7.0), (7.0, 11.89), (11.89, 16.32), (16.32, 21.58)],
        "skipped": [],
    },
    "comments.vtt": {
        "ids": ["1", "2", "3"],
        "texts": ["- Ta en kopp varmt te.\n- Det är inte varmt.",
                  "- Har en kopp te.\n- Det smakar som te.  ",
                  "- Ta en kopp"],
        "timings": [(135.0, 140.0), (140.0, 145.0), (145.0, 150.0)],
        "skipped": [],
    },
    "cue_tags.vtt": {
        "texts": ["When the moon hits your eye", "Like a big-a pizza pie", "That's amore"],
        "timings": [(16.5, 18.5), (18.5, 20.5), (20.5, 21.5)],
        "skipped": [],
    },
    "empty.vtt": "reject",      # zero bytes: no signature
    "invalid.vtt": "reject",    # starts with a timing line, no "WEBVTT"
    "invalid_timeframe.vtt": {  # cue 2 has "00:00:1d.890": skipped, the rest kept
        "texts": [f"Caption text #{i}" for i in (1, 3, 4, 5, 6, 7)],
        "skipped": [(6, "1d.890")],
    },
    "metadata_headers.vtt": {
        "texts": ["Caption text #1", "Caption text #2"],
        "timings": [(0.5, 7.0), (7.0, 11.89)],
        "skipped": [],
    },
    "metadata_headers_multiline.vtt": {
        "texts": ["Caption text #1", "Caption text #2"],
        "skipped": [],
    },
    "missing_caption_text.vtt": {  # cue 2 has an empty payload: still a cue
        "texts": ["Caption text #1", "", "Caption text #3", "Caption text #4", "Caption text #5"],
        "skipped": [],
    },
    "missing_timeframe.vtt": {  # "Caption text #2" has no timing line: skipped, rest kept
        "texts": [f"Caption text #{i}" for i in (1, 3, 4, 5, 6, 7)],
        "skipped": [(6, "Caption text #2")],
    },
    "no_captions.vtt": {"texts": [], "skipped": []},
    "sample.vtt": {
        "texts": [f"Caption text #{i}" for i in range(1, 17)],
        "skipped": [],
    },
    "styles.vtt": {"texts": ["- Hello world."], "timings": [(0.0, 10.0)], "skipped": []},
    "using_identifiers.vtt": {
        "ids": ["", "second caption", "", "4", "", ""],
        "texts": [f"Caption text #{i}" for i in range(1, 7)],
        "skipped": [],
    },
    "youtube_dl.vtt": {
        # cue 2's payload runs into the next timing line (no blank line): spec ends it there
        "texts": ["yeah", "yeah\nwhat", "this will happen is I'm telling",
                  "this will happen is I'm telling\n "],
        "timings": [(286.07, 286.47), (286.47, 304.08), (304.08, 305.069), (305.069, 305.4)],
        "settings": ["align:start position:0%"] * 4,
        "skipped": [],
    },
}


def test_every_webvtt_py_vtt_file_has_an_expectation():
    assert sorted(p.name for p in WEBVTT_PY.glob("*.vtt")) == sorted(WEBVTT_PY_EXPECTED)


@pytest.mark.parametrize("name", sorted(WEBVTT_PY_EXPECTED))
def test_webvtt_py_files(name):
    path = WEBVTT_PY / name
    expected = WEBVTT_PY_EXPECTED[name]
    if expected == "reject":
        with pytest.raises(WebVTTError):
            parse_webvtt_file(path)
        with pytest.raises(WebVTTError):
            parse_webvtt(path.read_text(encoding="utf-8"))
        return
    parsed = parse_webvtt_file(path)
    assert parse_webvtt(path.read_text(encoding="utf-8")) == parsed
    assert texts(parsed) == expected["texts"]
    if "ids" in expected:
        assert [c.id for c in parsed.cues] == expected["ids"]
    if "timings" in expected:
        assert timings(parsed) == expected["timings"]
    if "settings" in expected:
        assert [c.settings for c in parsed.cues] == expected["settings"]
    assert [s.line for s in parsed.skipped] == [line for line, _ in expected["skipped"]]
    for skip, (_, snippet) in zip(parsed.skipped, expected["skipped"]):
        assert snippet not in skip.reason  # reasons never carry the file's text
        assert "timing" in skip.reason


@pytest.mark.parametrize("name", ["invalid_timeframe.srt", "missing_timeframe.srt", "one_caption.srt",
                                  "sample.srt", "sample.sbv", "LICENSE.webvtt-py"])
def test_webvtt_py_non_vtt_files_are_rejected(name):
    with pytest.raises(WebVTTError):
        parse_webvtt_file(WEBVTT_PY / name)


def test_vttjs_directory_is_fully_covered():
    assert sorted(p.name for p in VTTJS.iterdir()) == [
        "LICENSE.vttjs", "integration__cycle-collector-talk.vtt", "integration__spec-example.vtt"]


def test_vttjs_license_is_rejected():
    with pytest.raises(WebVTTError):
        parse_webvtt_file(VTTJS / "LICENSE.vttjs")


def test_vttjs_spec_example_matches_spec_timings_and_voices():
    parsed = parse_webvtt_file(VTTJS / "integration__spec-example.vtt")
    spec = parse_webvtt(SPEC_SIMPLE_CAPTION_FILE)
    assert parsed.skipped == []
    assert timings(parsed) == timings(spec)
    assert [[v for v, _ in c.parts] for c in parsed.cues] == [[v for v, _ in c.parts] for c in spec.cues]
    assert [c.settings for c in parsed.cues][8:12] == [
        "align:end size:50%", "align:start size:50%", "align:end size:50%", "align:start size:50%"]
    # the file's em dash is double-encoded UTF-8 (mojibake); it is kept as is
    assert parsed.cues[8].text == "When we e-mailed\u00e2\u0080\u0094"
    assert parsed.cues[11].parts == [("Neil deGrasse Tyson", "Laughs")]


def test_vttjs_cycle_collector_talk():
    path = VTTJS / "integration__cycle-collector-talk.vtt"
    parsed = parse_webvtt_file(path)
    n_timing_lines = sum("-->" in line for line in path.read_text(encoding="utf-8").splitlines())
    assert len(parsed.cues) == n_timing_lines == 15
    assert parsed.skipped == []
    assert parsed.cues[0].parts == [
        ("Kyle Huey", "Not ready yet? Alright, I'll wait until the camera man tells me we're good.")]
    assert parsed.cues[1].parts == [
        ("Chris Pearce", "Okay, we're good now."),
        ("Kyle Huey", "Oh, now we're good?"),
        (None, "Laughter"),
    ]
    assert parsed.cues[2].parts == [("Kyle Huey", "So thanks again for coming. I'm going to talk a bit "
                                     "about the cycle collector and what it does and how we manage memory "
                                     "in Gecko.")]
    speakers = {v for c in parsed.cues for v, _ in c.parts}
    assert speakers == {"Kyle Huey", "Chris Pearce", None}
    assert all(c.parts[0][0] == "Kyle Huey" for i, c in enumerate(parsed.cues) if i != 1)
    assert (parsed.cues[-1].start, parsed.cues[-1].end) == (96.0, 108.0)
    assert [c.line for c in parsed.cues[:3]] == [3, 6, 11]


def test_result_types():
    parsed = parse_webvtt(ARROW_ID_FILE)
    assert isinstance(parsed, ParsedVTT)
    assert all(isinstance(c, Cue) for c in parsed.cues)
    assert all(isinstance(s, SkippedCue) for s in parsed.skipped)
    with pytest.raises(TypeError):
        parse_webvtt(None)  # type: ignore[arg-type]
