#!/usr/bin/env python3
"""Write the second held-out spoken-PII set ``pipeline/domain/data/pii/spoken_holdout2.jsonl``.

The utterances below were written by hand, independently of the project's recognizers and
of its other labelled sets, in the style of small-model ASR output of call-centre audio
(insurance claims, pharmacy refills, airline rebooking, utility billing, bank fraud
reports, telecom number porting, healthcare appointment lines). Every value is synthetic.

PII values are marked inline as ``{TYPE:value}``; the script strips the markers, computes
character offsets (end exclusive) and writes one JSON object per line::

    {"id": "holdout2-0001", "kind": "PHONE", "text": "...",
     "spans": [{"start": 13, "end": 58, "entity_type": "PHONE"}]}

``TYPE`` is one of PHONE, CARD, SSN, EMAIL, DOB (written as DATE_OF_BIRTH), ADDRESS,
PERSON, ACCOUNT, ZIP. ``kind`` is derived from the spans: NONE (no spans), the single
entity type present, ADDRESS for an address with its ZIP, else MULTI.

Before writing, the set is validated: markers well formed, spans inside the text,
non-empty, not starting or ending in whitespace or punctuation, no overlaps, ids unique,
card numbers of 16 digits Luhn-valid (digits read from the spoken words), SSNs 9 digits
or 4 ("last four"), minimum counts per entity type and of negatives. Any failure stops
the script with a message naming the utterance and no file is written. Output is
deterministic: running the script twice gives a byte-identical file.

Usage (from the project root)::

    .venv/bin/python scripts/make_pii_holdout2.py             # writes the default path
    .venv/bin/python scripts/make_pii_holdout2.py --out FILE  # writes elsewhere
    .venv/bin/python scripts/make_pii_holdout2.py --check     # validate only
"""

from __future__ import annotations

import argparse
import json
import re
import string
import sys
from collections import Counter
from pathlib import Path

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "pipeline/domain/data/pii/spoken_holdout2.jsonl"
ID_PREFIX = "holdout2"

ENTITY_TYPES = ("PHONE", "CARD", "SSN", "EMAIL", "DATE_OF_BIRTH", "ADDRESS", "PERSON", "ACCOUNT", "ZIP")
TAG_ALIASES = {"DOB": "DATE_OF_BIRTH"}
MIN_SPANS = {
    "PHONE": 40,
    "CARD": 30,
    "SSN": 25,
    "EMAIL": 30,
    "DATE_OF_BIRTH": 30,
    "ADDRESS": 30,
    "ZIP": 20,
    "PERSON": 40,
    "ACCOUNT": 25,
}
MIN_UTTERANCES = 320
MIN_NEGATIVES = 110

MARK_RE = re.compile(r"\{([A-Z_]+):([^{}]*)\}")
EDGE_BAD = set(string.whitespace) | set(string.punctuation)

# ---------------------------------------------------------------------------------------
# Utterances. One string per utterance; PII marked {TYPE:value}. Grouped by the call
# type / entity family only for the writer's convenience; ids follow list order.
# ---------------------------------------------------------------------------------------

PHONE = [
    "hi yes i'm calling about a refill, the best number to reach me is {PHONE:six one seven, five five five, oh one four two}",
    "{PHONE:three one two five five five oh one nine nine} that's my cell",
    "ok so it's {PHONE:two oh six, uh, five five five, double seven one three}",
    "My callback number is {PHONE:555-201-3344}.",
    "You can reach me at ({PHONE:312) 555 0199}, any time after noon.",
    "the number on file should be {PHONE:four one five, triple two, oh one six eight}",
    "its {PHONE:nine seven three five five five, um, oh one two two}",
    "my phone is {PHONE:five five... sorry, five six two, four four oh, nine one three three}",
    "the number is {PHONE:seven one eight, five five five, oh one, twenty three}",
    "area code {PHONE:four oh four, and then five five five, sixty one, forty two}",
    "i'm in the UK at the moment so it's {PHONE:plus four four seven seven double oh, nine double oh, one two three}",
    "Mobile while I'm abroad is +{PHONE:44 7700 900461}, the old one won't work.",
    "call the office at {PHONE:eight four seven, five five five, oh one six six, extension two one three}",
    "Work line is {PHONE:212-555-0178 ext. 4410}, ask for claims.",
    "{PHONE:five oh three, five five five, oh one eight eight}, that's the house phone",
    "the pharmacy can text me at {PHONE:nine one nine, five five five, zero one four seven} when it's ready",
    "i want to port my number over, it's {PHONE:four six nine, five five five, oh one, oh nine}",
    "the number i'm porting is {PHONE:7 0 2 5 5 5 0 1 6 3}",
    "ah it's {PHONE:eight one eight, five five five, um, double oh four one}",
    "my husband's number in india is {PHONE:plus nine one, nine eight seven six five, four three two one oh}",
    "Sure, from Australia it would be {PHONE:plus six one, four one two, three four five, six seven eight}.",
    "dial {PHONE:oh oh four nine, three oh, nine oh one eight two oh} that's my sister in berlin, she's the emergency contact",
    "so is it {PHONE:six four six, five five five, oh one five five} or do you have a different one",
    "Best number is {PHONE:305.555.0117}.",
    "my numbers {PHONE:2025550134}",
    "yes its uh {PHONE:seven seven three, uh, five five five, um, oh one, uh, six two}",
    "Sure, it's {PHONE:four eight oh, five five five, oh one nine oh}.",
    "{PHONE:six oh two five five five oh one one, no wait, oh one one four}",
    "for the rebooking just text me at {PHONE:seven two oh, five five five, oh one three three}",
    "it's a canadian number, {PHONE:six oh four, five five five, oh one two one}",
    "area code {PHONE:five one oh, then triple five, oh one nine two}",
    "My mobile is {PHONE:07700 900 183}, that's a UK mobile.",
    "phone {PHONE:eight six four dash five five five dash oh one four four}",
    "best callback {PHONE:four two five, five five five, oh one oh seven} please",
    "{PHONE:six one two, five five five, zero one, fifty eight}",
    "uh my cell um {PHONE:nine oh nine, five five five, oh one seven six} and my home is {PHONE:nine oh nine, five five five, oh one seven seven}",
    "{PHONE:Three oh three, five fifty five, oh one eight two}, that's where they can reach me.",
    "call me back on {PHONE:plus three five three, eight seven, one two three, four five six seven} i'm in dublin",
    "the text about the fraud didn't come to my number, mine is {PHONE:seven oh four, five five five, oh one nine five}",
    "my landline is {PHONE:two one four five five five oh one six oh}",
    "Can they call my daughter instead? Her number is ({PHONE:646) 555-0143}.",
    "the number you have is an old one, the new one is {PHONE:four one two, five five five, oh one five oh}",
    "um it's {PHONE:fifty five, fifty five, fifty five, oh one, nineteen}",
    "for the pharmacy text alerts use {PHONE:9 1 7 5 5 5 0 1 0 2}",
    "the new sim number is {PHONE:eight oh one, five five five, oh one, seventy one}, the old one was ported out",
]

CARD = [
    "the card number is {CARD:four five two six, oh one eight one, five nine oh eight, three oh one two}",
    "Card number {CARD:4661 3186 0913 9090}, expiry 09/28.",
    "ok it's {CARD:four nine six oh... three oh eight two... four six two eight... one nine four oh}",
    "{CARD:forty eight twenty one, ninety nine thirty five, eighteen nineteen, oh nine thirty four}",
    "visa? no it's a mastercard, {CARD:five one seven eight, six five seven nine, seven five four three, two three one three}",
    "The full number is {CARD:5294-8757-4911-8625}.",
    "{CARD:five three five two, seven six oh one, eight nine double five, five nine seven four} expires oh six twenty seven",
    "card is {CARD:five four nine seven, uh, double one four seven, um, one oh four nine, seven four six oh}",
    "the one that was stolen is {CARD:triple five oh, seven five two nine, one seven oh three, four two three two}",
    "it's a discover card {CARD:six oh one one, six six seven one, two seven six eight, four two six four}",
    "Number on the front is {CARD:4846 5632 1223 3073}, security code is 412.",
    "{CARD:4924 4026, uh, eight five nine nine, five two eight seven}",
    "{CARD:triple two one, nine oh seven eight, double six double six, one seven six seven}",
    "the number is {CARD:twenty seven twenty, oh three thirteen, seventy two fifteen, ninety twelve}",
    "{CARD:four oh nine two, eight one five nine, oh one three nine, six two double four} and the cvv is seven seven one",
    "i'd like to pay with {CARD:five one five nine, five seven one one, seven seven seven seven, four one two oh}",
    "Let me read it: {CARD:6011 1547 2803 8521}.",
    "{CARD:four eight oh eight, four one four eight, five two five three, triple eight two}",
    "yeah the card is {CARD:five five five three, nine three three six, three three eight seven, five double oh two}",
    "{CARD:forty four seventy four, thirty nine fifty seven, fifty five thirteen, thirteen seventy five}",
    "my debit card {CARD:four three five three, seven nine nine oh, seven five one one, six three seven eight} somebody used it online",
    "Card: {CARD:5326 5167 6122 2026}",
    "hang on let me get it out {CARD:four nine seven two, nine nine seven five, two eight eight two, double oh one five}",
    "{CARD:six zero one one, eight two six three, three zero four three, four eight three zero}",
    "it's {CARD:four nine five four... eight six two oh... five seven nine eight... six eight two one} sorry the light's bad",
    "{CARD:fifty two eighty two, eighty eight oh seven, twenty nine oh two, twenty two seventy}",
    "for the copay use {CARD:4918 0588 8718 0330}",
    "ok card number {CARD:four four oh one, eight seven eight oh, one seven five nine, eight nine eight four}, expiration eleven twenty six",
    "the card on the account ends in {CARD:four four one two}",
    "Last four digits are {CARD:8821}.",
    "it's the card ending {CARD:oh oh one five}, the other one is closed",
    "the last four is {CARD:seventy seven oh four}",
    "Yes, the one ending in {CARD:2687}.",
    "{CARD:four five two four, two seven three one, six seven two three, two six eight seven} that's the new one they sent",
]

SSN = [
    "my social is {SSN:four one two, seven seven, nine oh three one}",
    "SSN {SSN:523-41-8876}",
    "social security number {SSN:three eight one, oh six, two two five nine}",
    "the last four of my social are {SSN:six six two oh}",
    "ok it's {SSN:2 7 1 4 4 0 9 8 3}",
    "it's {SSN:five oh eight, uh, four three, um, one one seven two}",
    "{SSN:three forty one, twenty two, sixty eight ninety}",
    "My social security number is {SSN:614 30 2271}.",
    "last four {SSN:8 8 1 9}",
    "social {SSN:two double oh, five one, four four three two}",
    "it's {SSN:seven one eight dash two nine dash oh oh four six}",
    "{SSN:four forty, eighteen, seventy three oh two}",
    "The SSN on the claim should be {SSN:056-77-1940}.",
    "uh social is {SSN:triple three, four one, eight oh six two}",
    "{SSN:oh four seven, uh, six two, five five one nine} for the subscriber",
    "last 4 of ssn {SSN:0932}",
    "my social {SSN:five eight two nine one three three oh four}",
    "{SSN:two sixty one, oh nine, forty four twelve}",
    "Social: {SSN:389 04 1176}",
    "social's {SSN:one two nine, four seven, double eight three one}",
    "it's {SSN:seven two three... four oh... nine nine one five}",
    "{SSN:six forty five, thirty, eleven eighty} that's my husband's",
    "the last four digits of the social {SSN:seven seven oh one}",
    "Social security, {SSN:542 11 0687}.",
    "{SSN:one sixty, fifty two, oh three, seventy}",
    "for verification my social is {SSN:three one seven, eight four, two six two oh}",
    "ss number {SSN:four oh one, double six, one nine three eight}",
    "{SSN:5 0 9 - 3 3 - 7 2 1 8}",
]

EMAIL = [
    "my email is {EMAIL:sarah underscore lee at hotmail dot com}",
    "it's {EMAIL:j dot smith at gmail dot co dot uk}",
    "my email is {EMAIL:mike the number five at yahoo dot com}",
    "Email is {EMAIL:adaeze.o@outlook.com}.",
    "email {EMAIL:kowalski at sign protonmail dot com}",
    "it's {EMAIL:priya dot r eighty seven at sign gmail dot com}",
    "{EMAIL:t underscore nguyen ninety one at icloud dot com}",
    "Please send it to {EMAIL:r.haddad@fastmail.com}, not the old one.",
    "{EMAIL:hamid dash karimi at live dot ca}",
    "it's {EMAIL:o s e i dot k o f i at gmail dot com}",
    "yeah it's {EMAIL:lena m at web dot de}",
    "Email address is {EMAIL:Chen.Wei88@gmail.com}",
    "uh {EMAIL:bongani at sign mweb dot co dot za}",
    "{EMAIL:d k seventy two at aol dot com}",
    "it's my work one, {EMAIL:f dot haddad at northwind logistics dot com}",
    "{EMAIL:anjali sharma all one word at yahoo dot in}",
    "the email should be {EMAIL:siobhan dot k at eircom dot net}",
    "my email is {EMAIL:mateo underscore g, uh, two thousand at hotmail dot com}",
    "Sure, {EMAIL:Ji-woo.Park@naver.com}.",
    "{EMAIL:marisol at sign m dash delgado dot com}",
    "{EMAIL:yusuf dot a dot ibrahim at gmail dot com} for the receipts",
    "send the confirmation to {EMAIL:helga at t dash online dot de}",
    "It's {EMAIL:giuseppe.romano@libero.it}.",
    "{EMAIL:n eze at outlook dot com}, that's n as in nancy",
    "email {EMAIL:lars dot eriksson at telia dot se}",
    "email {EMAIL:zsofi h at freemail dot h u}",
    "it's {EMAIL:tupou dot s at xtra dot co dot nz}",
    "uh my email {EMAIL:fatima, f a t i m a, at gmail dot com}",
    "for the e ticket use {EMAIL:deepika dot v at rediffmail dot com}",
    "{EMAIL:ivan petrenko at ukr dot net}",
    "My email is {EMAIL:M.Tanaka@docomo.ne.jp}",
    "the email on the account is {EMAIL:bui minh at yahoo dot com dot v n}",
    "{EMAIL:parisa underscore r at sign protonmail dot com}",
    "you can email the bill to {EMAIL:okafor dot family at sign gmail dot com}",
]

DOB = [
    "i was born on the {DOB:third of march nineteen eighty}",
    "d o b {DOB:oh four slash twelve slash eighty seven}",
    "Date of birth is {DOB:4/12/1987}.",
    "{DOB:march third eighty}",
    "birthday {DOB:june twenty first, nineteen ninety two}",
    "she was born {DOB:august ninth two thousand and three}",
    "Date of birth {DOB:12-05-1979}",
    "it's the {DOB:twenty second of november, nineteen sixty four}",
    "uh {DOB:seventeenth october nineteen fifty eight}",
    "dob {DOB:one one, oh seven, nineteen ninety}",
    "my date of birth is {DOB:may second nineteen seventy five}",
    "My birthday is {DOB:Jan 14 1983}.",
    "the patient's dob is {DOB:oh two oh nine eighty one}",
    "born on the {DOB:thirty first of december, two thousand}",
    "Date of birth: {DOB:February 29, 1988}",
    "{DOB:1990-07-04} is the date of birth",
    "date of birth {DOB:nine slash nine slash nineteen ninety nine}",
    "{DOB:fourth july sixty eight}, yes",
    "my date of birth is {DOB:twenty five oh six nineteen seventy}",
    "and the patient's date of birth? {DOB:eleven twenty three fifty two}",
    "it's {DOB:sept eighth ninety four}",
    "date of birth is {DOB:fifth of april, nineteen eighty five}",
    "he was born {DOB:first of jan two thousand and one}",
    "dob is {DOB:oh three, fifteen, oh six}",
    "Date of birth {DOB:13/08/1975}, I'm from the UK so day first.",
    "i was born on {DOB:may the first nineteen sixty}",
    "dob {DOB:ten ten seventy}",
    "my birthday, {DOB:december twelfth, nineteen ninety seven}",
    "born the {DOB:eighteenth of the ninth, ninety one}",
    "{DOB:april nineteen, nineteen seventy nine}",
    "date of birth {DOB:oh seven oh seven two thousand five}",
    "i was born {DOB:nineteen eighty six, march the fourth}",
    "DOB {DOB:2/3/64}",
    "my mother's date of birth is the {DOB:twenty seventh june nineteen eighty}",
]

ADDRESS = [
    "i live at {ADDRESS:one twenty three main street apartment four b}",
    "the new address is {ADDRESS:four eighteen west maple avenue, apartment twelve c, columbus, ohio}, {ZIP:four three two one five}",
    "Service address is {ADDRESS:2217 Birchwood Drive, Unit 5, Tacoma, WA} {ZIP:98402}.",
    "{ADDRESS:seven oh five oak ridge road}",
    "ship it to {ADDRESS:forty four harbor view lane, portland maine}",
    "i moved to {ADDRESS:eighty one hundred sunset boulevard suite two hundred los angeles} {ZIP:nine double oh four six}",
    "the house is at {ADDRESS:nine twelve east fifth street}",
    "it's {ADDRESS:one one five five pine street, apartment three oh two}",
    "Mailing address: {ADDRESS:3 Kingfisher Court, Durham, NC} {ZIP:27705}",
    "{ADDRESS:six hundred and ten north clark street, chicago, illinois}, {ZIP:six oh six one oh}",
    "the accident was outside my house at {ADDRESS:two forty two cedar lane, number seven}",
    "{ADDRESS:fifteen oh one lakeshore drive}, that's where the meter is",
    "my address is {ADDRESS:eight eight eight peachtree street northeast, atlanta}",
    "{ADDRESS:fourteen twenty two elm avenue apt six}",
    "it's {ADDRESS:ninety nine willow creek circle, boise, idaho}, zip {ZIP:eight three seven oh four}",
    "billing address {ADDRESS:thirty two hundred grand avenue, des moines, iowa}",
    "we're at {ADDRESS:five sixty seven magnolia way}",
    "Address on file is {ADDRESS:1840 Vine St Apt 2R, Cincinnati, OH} {ZIP:45202}.",
    "{ADDRESS:one hundred riverside drive, new york, new york}, {ZIP:one double oh two four}",
    "the prescription should go to {ADDRESS:twenty one jefferson court}",
    "{ADDRESS:seven seventy seven brickell avenue, unit fourteen oh five, miami florida}",
    "um the property is {ADDRESS:four four two one old mill road}",
    "{ADDRESS:two oh nine south mesa drive, tempe arizona} {ZIP:eight five two eight one}",
    "i'm at {ADDRESS:one eleven highland park boulevard}",
    "the old address was {ADDRESS:eleven forty five university avenue, berkeley, california}",
    "{ADDRESS:three oh three aspen lane, lot nineteen}",
    "deliver to {ADDRESS:five twenty five mission street floor ten, san francisco}",
    "it's a rural address, {ADDRESS:two two eight nine county road fourteen}",
    "my daughter lives at {ADDRESS:ninety sycamore street, apartment one a, brooklyn}",
    "{ADDRESS:sixteen hundred route nine, suite b}",
    "the water leak is at {ADDRESS:four hundred ocean parkway}",
]

ZIP = [
    "zip code {ZIP:nine oh two one oh}",
    "Zip is {ZIP:30309}.",
    "the zip is {ZIP:oh two one three eight}",
    "uh {ZIP:seven eight seven oh one} for the zip",
    "postal code, {ZIP:six oh six one four}",
    "zip code is {ZIP:nine eight one oh nine}",
    "my zip {ZIP:double one two one five}",
    "billing zip {ZIP:three three one three one}",
    "ZIP code {ZIP:55408}",
    "the zip code on the card is {ZIP:four eight two oh one}",
    "it's {ZIP:eight oh two oh five}",
    "zip code uh {ZIP:two oh oh oh nine}",
    "Zip {ZIP:94110}, that's San Francisco.",
    "the zip for the service address is {ZIP:seven three one oh two}",
]

PERSON = [
    "hi my name is {PERSON:Adaeze Okonkwo} and i'm calling about my claim",
    "this is {PERSON:Priya} from the pharmacy team, how can i help",
    "thanks {PERSON:Tomasz}, that's all i needed",
    "is mr {PERSON:Okafor} there",
    "you're speaking with {PERSON:Siobhan}, can i get your name",
    "my last name is {PERSON:chen}, that's {PERSON:C H E N}",
    "spelled {PERSON:k o w a l s k i}",
    "uh the policy is under my wife {PERSON:Nguyen Thi Lan}",
    "can i speak to {PERSON:Rahul Mehta} please",
    "{PERSON:Olusegun Adebayo}, that's me",
    "yes hi it's {PERSON:ingrid halvorsen} calling back",
    "the appointment is for my son {PERSON:Mateo}",
    "First name {PERSON:Aoife}, {PERSON:A O I F E}.",
    "hello mrs {PERSON:tanaka}, how are you today",
    "ok {PERSON:Fatima}, i've pulled up your account",
    "The account holder is {PERSON:Dimitrios Papadopoulos}.",
    "my name's {PERSON:Kwame Mensah}, {PERSON:M E N S A H}",
    "i'm calling for my mother {PERSON:Zsofia Horvath}, she's hard of hearing",
    "{PERSON:Jae-won Park} here",
    "hi this is dr {PERSON:Amara Osei} calling about the referral",
    "is this {PERSON:Ahmed}? hi {PERSON:Ahmed}, it's {PERSON:Leilani} from the clinic",
    "the ticket is booked under {PERSON:Haruto Sato}",
    "my surname is {PERSON:van der berg}",
    "It's {PERSON:Magdalena Wisniewska}.",
    "passenger name {PERSON:Oyelaran}, first name {PERSON:Temitope}",
    "thanks so much {PERSON:Bongani}, have a good one",
    "can you transfer me to {PERSON:Gareth} in claims",
    "yeah {PERSON:Rosa Delgado Fuentes} is the primary on the account",
    "spelled {PERSON:S H A R M A}, first name {PERSON:Anjali}",
    "you're through to {PERSON:Mikko}, how can i help",
    "My husband {PERSON:Tariq Haddad} set it up, but I'm on it too.",
    "{PERSON:Nkechi}, sorry, {PERSON:Nkechi Eze}",
    "the claim was opened by {PERSON:Lars Eriksson} last week",
    "i'm {PERSON:Bui Van Minh}, the account is in my name",
    "last name {PERSON:O'Sullivan}",
    "okay {PERSON:Alejandro}, let me check that",
    "{PERSON:Anh} can you hear me",
    "first name is {PERSON:Chiamaka}, {PERSON:C H I A M A K A}",
    "the prescription's for {PERSON:Giuseppe Romano}",
    "my name is {PERSON:Sione Tupou}",
    "is this mr {PERSON:Abdi}? i'm calling from the gas company",
    "agent {PERSON:Marisol} helped me last time",
    "{PERSON:Parisa Rahimi}, that's {PERSON:R A H I M I}",
    "you're speaking with {PERSON:Deepika}, account security",
    "ok {PERSON:Hemi}, is that with an h",
    "{PERSON:Ivan Petrenko} calling about the port",
    "hi it's {PERSON:Yaw Boateng}, i got a text saying my card was blocked",
    "the booking says {PERSON:Li Na Zhou} but it should be {PERSON:Lina Zhou}",
]

ACCOUNT = [
    "account number {ACCOUNT:seven seven two nine oh four one eight}",
    "it's {ACCOUNT:alpha bravo seven seven two nine}",
    "policy number {ACCOUNT:h o four four seven one two nine three}",
    "Claim number {ACCOUNT:CLM-2024-88136}.",
    "order number {ACCOUNT:one one two dash four four seven dash nine nine three}",
    "member id {ACCOUNT:x-ray kilo four nine one one six}",
    "The booking reference is {ACCOUNT:QX7R2L}.",
    "confirmation code {ACCOUNT:quebec x-ray seven romeo two lima}",
    "the rx number is {ACCOUNT:six two oh four four one nine}",
    "the account ending {ACCOUNT:oh four one eight}",
    "it's {ACCOUNT:B as in bravo, N as in november, four four eight two one}",
    "My customer number is {ACCOUNT:88-1402-337}.",
    "the claim number is {ACCOUNT:c l seventy seven, forty one, oh nine}",
    "{ACCOUNT:echo echo nine three one two two}",
    "membership number {ACCOUNT:M K 3 3 0 1 9 8 2}",
    "utility account {ACCOUNT:five one one oh, double seven four two, oh one}",
    "case number {ACCOUNT:two three, eight eight, four oh one}",
    "ticket number {ACCOUNT:oh one six, two four oh, nine seven three three one two}",
    "Group number {ACCOUNT:GRP 55123-A}.",
    "policy {ACCOUNT:PA-7730015-02}",
    "the account number with the old carrier is {ACCOUNT:nine four four one, two oh seven, three six}",
    "{ACCOUNT:tango golf five five oh eight}",
    "frequent flyer number {ACCOUNT:one six three four four, eight one two oh}",
    "uh {ACCOUNT:hotel india two two seven four}",
    "Subscriber ID {ACCOUNT:W 2 9 4 4 1 8 8 0 7}",
    "Invoice number {ACCOUNT:INV-0048213}",
    "it was order #{ACCOUNT:W88213}",
    "reference number {ACCOUNT:sierra uniform one oh oh four}",
    "the account is {ACCOUNT:thirty three, forty one, ninety nine, oh two}",
    "yeah the account is {ACCOUNT:oscar papa four four five one two}",
    "fraud case {ACCOUNT:f r dash six six one nine oh two}",
]

MULTI = [
    "hi my name is {PERSON:Oluwaseun Bello} and my number is {PHONE:four oh four, five five five, oh one six two}",
    "{PERSON:Grace Wanjiru}, date of birth {DOB:fourteenth of february nineteen ninety}",
    "the address on the claim is {ADDRESS:three ten kingsley avenue, apartment two, hartford connecticut} {ZIP:oh six one oh five}",
    "name {PERSON:Hyun-woo Kim}, email {EMAIL:h w kim at gmail dot com}",
    "it's {PERSON:Priyanka Iyer}, account {ACCOUNT:four four one nine oh seven two}, and my dob is {DOB:nine twelve eighty eight}",
    "card holder {PERSON:Rafael Moreira}, card number {CARD:five four three four, seven eight eight seven, eight three eight four, eight three seven two}",
    "social {SSN:two two eight, six one, four oh nine three} and date of birth {DOB:october tenth sixty two}",
    "refill for {PERSON:Margarethe Vogel}, date of birth {DOB:july seventh nineteen forty nine}, rx {ACCOUNT:seven three three oh one eight two}",
    "booking reference {ACCOUNT:lima kilo four two x-ray papa}, passenger {PERSON:Ayesha Siddiqui}, contact number {PHONE:plus nine two, three oh oh, one two three, four five six seven}",
    "i'm porting {PHONE:five one two, five five five, oh one seven three} to the new sim, the old account is {ACCOUNT:six six two one oh four}",
    "this is {PERSON:Efua Asante}, my card ending {CARD:eight three seven two} was used in miami and i didn't authorize it",
    "service address {ADDRESS:fifty two linden street, worcester massachusetts}, {ZIP:oh one six oh nine}, account {ACCOUNT:nine oh oh four two seven seven one}",
    "Patient {PERSON:Tevita Fifita}, DOB {DOB:03/22/2011}, callback {PHONE:801-555-0136}.",
    "policyholder {PERSON:Svetlana Ivanova}, policy {ACCOUNT:HO-5521098}, email {EMAIL:svet dot ivanova at mail dot com}",
    "{PERSON:Kofi}, {EMAIL:kofi dot b at gmail dot com}, {PHONE:three four seven, five five five, oh one two eight}",
    "yeah so it's {PERSON:Marta Kowalczyk}, {ADDRESS:eighteen twelve prospect street, new haven}, {ZIP:oh six five one one}",
    "the card is {CARD:four two six one, six seven five one, three six one three, four one two four} and my social is {SSN:three oh two, one five, six six eight one}",
    "hi {PERSON:Bilal}, i see the order {ACCOUNT:W-774120} shipped to {ADDRESS:two nineteen carver street, apartment six d}",
    "my wife {PERSON:Ngozi} and i both have appointments, her date of birth is {DOB:may fifth seventy nine} and mine is {DOB:august thirtieth seventy six}",
    "spell that for me? sure, {EMAIL:r o s a dot d at gmail dot com}, and the phone is {PHONE:nine one five, five five five, oh one four nine}",
    "{PERSON:Juan Pablo Herrera}, {ADDRESS:fourteen oh nine south congress avenue, austin texas} {ZIP:seven eight seven oh four}",
    "ok mr {PERSON:Farouk}, i have the card {CARD:4656 3551 5058 7704} on file, is that still current",
    "claim {ACCOUNT:CL-449120}, the insured is {PERSON:Keiko Yamamoto}, best number {PHONE:two oh six, five five five, oh one nine eight}",
    "the appointment is for {PERSON:Amina Yusuf}, date of birth the {DOB:twelfth of may two thousand and nine}",
    "my member id is {ACCOUNT:yankee zulu three three eight one} and my email is {EMAIL:w.achieng@proton.me}",
    "This is {PERSON:Bogdan Marinescu}, social security {SSN:411-62-0937}, I'm calling about the fraud alert.",
]

NEGATIVE = [
    # insurance claims
    "the deductible on that policy is five hundred dollars",
    "your claim was filed on the second of february and it's still under review",
    "the adjuster should call you back within three to five business days",
    "it covers eighty percent after the deductible",
    "the accident happened on interstate ninety five near exit twelve",
    "we'll need photos of the damage, at least four or five from different angles",
    "Your premium goes up by twelve dollars a month starting in January.",
    "is this for the home policy or the auto policy",
    "rental car coverage is thirty dollars a day for up to thirty days",
    "State Farm sent me a letter but I think it was about the other car.",
    "the hail storm was on the nineteenth of april, around four in the afternoon",
    "the repair estimate came to two thousand four hundred and sixty dollars",
    # pharmacy refills
    "your refill will be ready after four pm tomorrow",
    "it's the twenty milligram tablets, ninety day supply",
    "take two tablets twice a day with food",
    "the copay for a generic is ten dollars",
    "we're out of the fifty milligram so we'd have to order it, that takes two days",
    "the pharmacy closes at nine on weekdays and six on sundays",
    "You have three refills remaining on that prescription.",
    "is the pharmacy on the corner still open late",
    "the insurance only approves a thirty day supply at a time",
    "press two for the pharmacy, press three for the photo department",
    "the five hundred milligram capsules, one every eight hours",
    "it's the blue inhaler, the one with two hundred puffs",
    # airline rebooking
    "your new flight departs at six fifteen am from gate b twelve",
    "the connection in denver is about an hour and forty minutes",
    "flight four eighty two to chicago has been cancelled due to weather",
    "The change fee is waived but there's a fare difference of $89.",
    "you're in seat twenty three c, it's an aisle seat",
    "you can bring one carry on and one personal item",
    "we can put you on the seven forty flight on the fourteenth",
    "the layover in frankfurt is about three hours",
    "boarding begins forty five minutes before departure",
    "there are two seats left in economy and one in premium economy",
    "Delta said the flight from Atlanta was overbooked by six seats.",
    "the bag weighed twenty six kilos so there's an overweight fee of seventy five",
    # utility billing
    "your bill this month is one hundred and forty two dollars and eighteen cents",
    "you used about eight hundred and sixty kilowatt hours last month",
    "the payment is due on the fifth of june",
    "we can set up a payment plan over six months",
    "the outage on the north side should be fixed by ten tonight",
    "the meter reading was taken on the twenty first",
    "there's a late fee of fifteen dollars if it's more than ten days overdue",
    "the budget billing plan averages it out to about ninety dollars a month",
    "Gas prices went up about 7% this winter.",
    "a technician can come out between eight and noon on thursday",
    "set the thermostat to sixty eight and it should drop a bit",
    "about sixty percent of the bill is delivery charges",
    # bank fraud reports
    "i see a charge for four hundred and ninety nine dollars at a store in phoenix that i didn't make",
    "the card has been frozen, you'll get a new one in five to seven business days",
    "were you in miami on the ninth? there are three transactions there",
    "it was two charges of nineteen ninety nine each",
    "the new card will have a different number and a new expiry date",
    "i called on march third and nobody called me back",
    "your daily limit is two thousand five hundred dollars",
    "We'll issue a provisional credit within ten business days.",
    "the transaction was declined at twelve oh four this afternoon",
    "did you share your card with anyone or lose it recently",
    "i bank with wells fargo but the card is from capital one",
    "there were like eleven small charges, each one dollar",
    # telecom porting
    "the port usually takes twenty four to forty eight hours",
    "you're on the unlimited plus plan at sixty five a month",
    "the twenty twenty four premium plan includes fifteen gigs of hotspot",
    "i have the iphone fifteen pro, the one twenty eight gig model",
    "the samsung galaxy s twenty four ultra is two hundred off this week",
    "your contract ends in november twenty twenty six",
    "The router is the Nighthawk R7000, the black one.",
    "there's a five dollar discount if you sign up for autopay",
    "we have four lines on the account",
    "the signal drops to one bar in the basement",
    "once the port completes, restart the phone twice",
    "the esim profile takes about ten minutes to download",
    # healthcare appointment lines
    "the next available appointment is tuesday the eleventh at two thirty",
    "the cardiology office is on the third floor, suite three ten",
    "please arrive fifteen minutes early to fill out the forms",
    "the lab results usually take forty eight hours",
    "we're running about twenty minutes behind today",
    "The copay for a specialist visit is forty dollars.",
    "the clinic is closed on the fourth of july",
    "your annual physical is due in september",
    "bring your insurance card and a photo id",
    "we can do a telehealth visit at nine forty five instead",
    "the flu shots are on a walk in basis from eight to eleven",
    "your blood pressure was one twenty over eighty last time",
    # generic call talk and hard negatives
    "can you hold for about two minutes",
    "i've been on hold for forty five minutes",
    "my account was charged twice",
    "what's the email you have on file",
    "i need to update my address",
    "the card is in my wallet somewhere, give me a second",
    "my phone number changed last year",
    "can you confirm your date of birth for me",
    "i'm calling from chicago",
    "We moved to Austin, Texas in the spring.",
    "it's about a three hour drive from sacramento",
    "the warehouse in memphis shipped it on monday",
    "press one for english, para espanol oprima dos",
    "that comes to three hundred and twelve dollars and fifty cents",
    "it'll take about six to eight weeks",
    "the interest rate is four point nine percent",
    "call back at three thirty",
    "i'll be home after five",
    "the model number on the back is k d l forty w six fifty d",
    "my order was two boxes of twelve",
    "version eleven point four of the app fixed it",
    "Johnson and Johnson makes that one, I think.",
    "we got the letter from blue cross last week",
    "you're number four in the queue",
    "the survey is only five questions",
    "it happened about ten years ago",
    "we're open monday through friday eight to eight eastern",
    "I'm in Jackson, Mississippi, if that matters.",
    "the form asks for your ssn but you can leave it blank for now",
    "i don't have my social security card with me",
    "is the email address case sensitive",
    "what's your zip code",
    "the balance on my account is zero",
    "twenty twenty three was a rough year for us",
    "Sure, I can wait. Take your time.",
    "ok so that's one twenty for the month plus tax",
    "she's in room four oh two on the fifth floor",
    "the number nineteen bus stops right outside",
    "I was born in Lagos but I've lived here for twenty years.",
    "my son was born in the spring so we added him to the policy",
    "the plan renews on the first of every month",
    "the warranty lasts two years from the date of purchase",
    "go to settings, then accounts, then tap add email",
    "your reference number will be in the confirmation email",
    "we charge two ninety nine for the expedited shipping",
    "can you double check the amount, it was double what it usually is",
    "is it the four or the five gallon one",
    "i'd give you guys a nine out of ten",
    "the order should arrive between the tenth and the fourteenth",
    "Georgia Power sent a notice about the rate change.",
    "the dollar store on route nine sells them two for five",
    "it's like forty five percent cheaper than the plan i had before",
    "i'm sixty seven and i've never had this happen",
    "the last four months the bill has been too high",
    "my card expired in january so i ordered a new one",
]

GROUPS: tuple[tuple[str, list[str]], ...] = (
    ("PHONE", PHONE),
    ("CARD", CARD),
    ("SSN", SSN),
    ("EMAIL", EMAIL),
    ("DATE_OF_BIRTH", DOB),
    ("ADDRESS", ADDRESS),
    ("ZIP", ZIP),
    ("PERSON", PERSON),
    ("ACCOUNT", ACCOUNT),
    ("MULTI", MULTI),
    ("NONE", NEGATIVE),
)

# ---------------------------------------------------------------------------------------
# Spoken-number reading (used only to validate CARD and SSN values).
# ---------------------------------------------------------------------------------------

_UNITS = {
    "zero": "0", "oh": "0", "o": "0", "one": "1", "two": "2", "three": "3", "four": "4",
    "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
}
_TEENS = {
    "ten": "10", "eleven": "11", "twelve": "12", "thirteen": "13", "fourteen": "14",
    "fifteen": "15", "sixteen": "16", "seventeen": "17", "eighteen": "18", "nineteen": "19",
}
_TENS = {
    "twenty": "2", "thirty": "3", "forty": "4", "fifty": "5", "sixty": "6", "seventy": "7",
    "eighty": "8", "ninety": "9",
}
_REPEAT = {"double": 2, "triple": 3}
_FILLERS = {"uh", "um", "er", "erm", "ah", "dash", "hyphen"}


def spoken_digits(value: str) -> str | None:
    """Return the digit string a spoken/written number denotes, or None if unreadable.

    Handles single digit words, "oh"/"zero", teens, tens ("forty two" -> "42", "forty"
    -> "40"), "double"/"triple" repeats, digit runs ("4661") and fillers ("uh", "dash").
    """
    tokens = re.findall(r"[a-z]+|\d+", value.lower())
    tokens = [t for t in tokens if t not in _FILLERS]
    out: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.isdigit():
            out.append(tok)
        elif tok in _UNITS:
            out.append(_UNITS[tok])
        elif tok in _TEENS:
            out.append(_TEENS[tok])
        elif tok in _TENS:
            nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
            if nxt in _UNITS and _UNITS[nxt] != "0" and nxt != "o":
                out.append(_TENS[tok] + _UNITS[nxt])
                i += 1
            else:
                out.append(_TENS[tok] + "0")
        elif tok in _REPEAT:
            nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
            if nxt not in _UNITS:
                return None
            out.append(_UNITS[nxt] * _REPEAT[tok])
            i += 1
        else:
            return None
        i += 1
    return "".join(out)


def luhn_valid(digits: str) -> bool:
    """True if ``digits`` passes the Luhn checksum."""
    total = 0
    for pos, ch in enumerate(reversed(digits)):
        d = int(ch)
        if pos % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


# ---------------------------------------------------------------------------------------
# Build and validate
# ---------------------------------------------------------------------------------------


class HoldoutError(ValueError):
    """Raised when an utterance or the whole set breaks a labelling rule."""


def parse_marked(marked: str, where: str) -> tuple[str, list[dict[str, object]]]:
    """Strip ``{TYPE:value}`` markers from ``marked``; return (text, spans with offsets).

    ``where`` names the utterance in error messages.
    """
    parts: list[str] = []
    spans: list[dict[str, object]] = []
    pos = 0
    length = 0
    for m in MARK_RE.finditer(marked):
        before = marked[pos : m.start()]
        parts.append(before)
        length += len(before)
        tag = TAG_ALIASES.get(m.group(1), m.group(1))
        if tag not in ENTITY_TYPES:
            raise HoldoutError(f"{where}: unknown entity tag {m.group(1)!r}")
        value = m.group(2)
        spans.append({"start": length, "end": length + len(value), "entity_type": tag})
        parts.append(value)
        length += len(value)
        pos = m.end()
    parts.append(marked[pos:])
    text = "".join(parts)
    if "{" in text or "}" in text:
        raise HoldoutError(f"{where}: malformed marker (stray brace) in {marked!r}")
    return text, spans


def validate_record(rec: dict[str, object]) -> None:
    """Check one record's spans against the labelling rules; raise HoldoutError if broken."""
    rid = rec["id"]
    text = rec["text"]
    assert isinstance(text, str)
    if not text or text != text.strip():
        raise HoldoutError(f"{rid}: text is empty or has leading/trailing whitespace")
    if "  " in text:
        raise HoldoutError(f"{rid}: text has a double space")
    spans = rec["spans"]
    assert isinstance(spans, list)
    prev_end = -1
    for span in sorted(spans, key=lambda s: (s["start"], s["end"])):
        start, end, etype = span["start"], span["end"], span["entity_type"]
        if etype not in ENTITY_TYPES:
            raise HoldoutError(f"{rid}: unknown entity_type {etype!r}")
        if not (0 <= start < end <= len(text)):
            raise HoldoutError(f"{rid}: span {start}-{end} empty or outside text of length {len(text)}")
        value = text[start:end]
        if value[0] in EDGE_BAD or value[-1] in EDGE_BAD:
            raise HoldoutError(f"{rid}: {etype} span {value!r} starts or ends in whitespace/punctuation")
        if start < prev_end:
            raise HoldoutError(f"{rid}: overlapping spans at {start}")
        prev_end = end
        if etype in ("CARD", "SSN"):
            digits = spoken_digits(value)
            if digits is None:
                raise HoldoutError(f"{rid}: cannot read the digits of {etype} span {value!r}")
            if etype == "CARD" and len(digits) == 16 and not luhn_valid(digits):
                raise HoldoutError(f"{rid}: card number {digits} fails the Luhn check")
            allowed = (4, 16) if etype == "CARD" else (4, 9)
            if len(digits) not in allowed:
                raise HoldoutError(
                    f"{rid}: {etype} span reads as {len(digits)} digits, expected one of {allowed}"
                )


def kind_of(spans: list[dict[str, object]]) -> str:
    """Family of an utterance derived from its span types."""
    types = {str(s["entity_type"]) for s in spans}
    if not types:
        return "NONE"
    if types == {"ADDRESS", "ZIP"}:
        return "ADDRESS"
    if len(types) == 1:
        return types.pop()
    return "MULTI"


def build_records() -> list[dict[str, object]]:
    """Parse every utterance, assign ids in list order, validate; return the records."""
    records: list[dict[str, object]] = []
    seen_text: set[str] = set()
    n = 0
    for group, utterances in GROUPS:
        for idx, marked in enumerate(utterances):
            n += 1
            rid = f"{ID_PREFIX}-{n:04d}"
            where = f"{rid} ({group} list item {idx + 1})"
            text, spans = parse_marked(marked, where)
            if group == "NONE" and spans:
                raise HoldoutError(f"{where}: negative utterance has spans")
            if group != "NONE" and not spans:
                raise HoldoutError(f"{where}: positive utterance has no spans")
            if text in seen_text:
                raise HoldoutError(f"{where}: duplicate text")
            seen_text.add(text)
            rec: dict[str, object] = {"id": rid, "kind": kind_of(spans), "text": text, "spans": spans}
            validate_record(rec)
            records.append(rec)
    validate_set(records)
    return records


def counts(records: list[dict[str, object]]) -> tuple[Counter[str], int]:
    """(spans per entity type, number of negative utterances)."""
    per_type: Counter[str] = Counter()
    negatives = 0
    for rec in records:
        spans = rec["spans"]
        assert isinstance(spans, list)
        if not spans:
            negatives += 1
        per_type.update(str(s["entity_type"]) for s in spans)
    return per_type, negatives


def validate_set(records: list[dict[str, object]]) -> None:
    """Set-level checks: unique ids, minimum utterances, negatives and spans per type."""
    ids = [r["id"] for r in records]
    if len(ids) != len(set(ids)):
        raise HoldoutError("duplicate ids in the holdout set")
    if len(records) < MIN_UTTERANCES:
        raise HoldoutError(f"only {len(records)} utterances, need at least {MIN_UTTERANCES}")
    per_type, negatives = counts(records)
    if negatives < MIN_NEGATIVES:
        raise HoldoutError(f"only {negatives} negatives, need at least {MIN_NEGATIVES}")
    for etype, minimum in MIN_SPANS.items():
        if per_type[etype] < minimum:
            raise HoldoutError(f"only {per_type[etype]} {etype} spans, need at least {minimum}")


def render(records: list[dict[str, object]]) -> str:
    """Serialise records as JSONL (fixed key order, ASCII, trailing newline)."""
    return "".join(json.dumps(r, ensure_ascii=True) + "\n" for r in records)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns a process exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output JSONL path")
    parser.add_argument("--check", action="store_true", help="validate only, write nothing")
    args = parser.parse_args(argv)
    try:
        records = build_records()
    except HoldoutError as exc:
        print(f"make_pii_holdout2: {exc}", file=sys.stderr)
        return 1
    per_type, negatives = counts(records)
    summary = ", ".join(f"{t}={per_type[t]}" for t in ENTITY_TYPES)
    print(f"{len(records)} utterances, {negatives} negatives; spans: {summary}")
    if not args.check:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(render(records))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
