"""Training phrases written for this project, and the generator that combines them.

The public datasets teach sentiment, emotions (GoEmotions, TweetEval), requests for a
person (Bitext) and turn-level satisfaction in task dialogues (USS). None of them shows
a customer in a vulnerable situation, a request to be called back, a question *about*
agents that is not a request, or the same words meaning opposite things after different
bot messages. The phrases below fill those gaps. :func:`written_examples` combines them
(a situation with a request, a bot message with a reply) into labelled examples, seeded,
so that a training run is reproducible.

They are training data only. The behavioural suites that test the model
(:mod:`escalate.affect.checklist`) were written separately and share no sentence with
this module.

Examples
--------
>>> from escalate.affect.phrases import written_examples
>>> examples = written_examples(seed=0)
>>> sorted({e.head for e in examples})
['dissatisfaction', 'distress', 'human_request']
>>> all(e.target in (0.0, 1.0) for e in examples)
True
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

__all__ = ["WrittenExample", "written_examples"]


@dataclass(frozen=True, slots=True)
class WrittenExample:
    """One written example: the customer's ``text``, what came before it, and the
    ``target`` (0 or 1) of one ``head``."""

    text: str
    head: str
    target: float
    bot: str | None = None
    user: str | None = None


# --------------------------------------------------------------------------- requests

_ASK = (
    "can I speak to", "I want to speak to", "I'd like to talk to", "let me talk to",
    "put me through to", "connect me with", "I need to speak with", "transfer me to",
    "get me", "please get me", "I want", "I need", "can you put me on to", "I'd rather talk to",
    "is it possible to talk to", "could I speak with", "hand me over to", "just give me",
    "I insist on speaking to", "pass me to", "I demand", "escalate this to",
    "I want this looked at by", "can I get", "bring in", "I'd prefer to deal with",
)  # fmt: skip
_PERSON = (
    "a human", "a person", "a real person", "an actual human", "a human being", "an agent",
    "a live agent", "a real agent", "someone", "somebody", "someone real", "a manager",
    "your manager", "a supervisor", "an operator", "a representative", "a member of staff",
    "a staff member", "customer service", "one of your team", "a colleague of yours",
    "someone from support", "a human advisor", "an advisor", "a specialist", "the complaints team",
    "someone in billing", "a person who can help", "an actual person not a bot",
)  # fmt: skip
_ASK_SHORT = (
    "human please", "agent", "agent please", "AGENT", "representative", "operator",
    "speak to human", "talk to agent", "real person please", "person please", "human!!",
    "get me a human now", "human agent", "live person", "let me speak to someone",
    "someone real please", "manager please", "supervisor now",
)  # fmt: skip
_CALLBACK = (
    "can someone call me back", "I'd like a callback please", "please have someone ring me",
    "can you get a person to phone me", "request a call back", "call me back please",
    "could an agent give me a call", "I want someone to call me about this",
    "can I book a callback", "have somebody phone me tomorrow morning",
    "ring me back when someone is free", "can your team call me on my mobile",
    "arrange a call with an advisor please", "I'd rather someone called me",
    "please ask someone to contact me by phone", "call me", "can I get a phone call from you",
)  # fmt: skip
_NOT_BOT = (
    "this bot is useless", "you're not understanding me", "I don't want to talk to a bot",
    "stop giving me the same answer", "this isn't helping", "enough of this",
    "you keep sending me links", "I've had enough of this chat", "you are a machine",
    "forget it", "this is going nowhere",
)  # fmt: skip

#: Mentions of people, agents and staff, and questions about them, that are not requests.
_ABOUT_PEOPLE = (
    "how do I become a customer service agent?", "are you hiring customer service agents?",
    "what does an insurance agent do?", "my agent number is 4471", "my travel agent booked it",
    "the delivery person left it next to the bins", "the person on the phone was lovely",
    "a member of your staff was really rude in store", "your agent already sorted it, thanks",
    "my manager needs a copy of the invoice", "the human resources team wants a receipt",
    "how many people can use one account?", "can I add another person to my booking?",
    "who is the person named on this bill?", "my husband spoke to someone yesterday",
    "someone signed for the parcel but it wasn't me", "somebody used my card",
    "is the supervisor code the same as the pin?", "the operator code on my router is 17",
    "what's the representative APR?", "I'm a real person not a robot, the captcha keeps failing",
    "the agent said it would arrive on Monday", "which agent handled my claim?",
    "my estate agent needs proof of address", "do you have a person-to-person transfer option?",
    "can a second person be added as a named driver?", "I'd like to change the account holder to my wife",
    "how do I speak to the bank about a mortgage?", "are your staff working on bank holidays?",
    "the manager of the store said to contact you", "I'm calling on behalf of my mother",
    "is there a human resources email?", "how do I pay someone from my account?",
    "I want to send money to a person abroad", "what are your phone lines opening hours?",
    "what number do I call to report a fault?", "your call centre hours please",
    "I spoke to an agent last week about this", "who can I complain to about the driver?",
    "does the callback feature work on the app?", "how do I turn off call back on my phone?",
    "call me Sam", "I missed a call from you", "I called yesterday but nobody answered",
)  # fmt: skip
_INFO_REQUESTS = (
    "where is my order", "I want to change my delivery address", "how do I reset my password",
    "can I get a refund", "what time do you close", "I'd like to cancel my subscription",
    "what's my balance", "I need a copy of my invoice", "can I change my flight",
    "how much is the upgrade", "my card was declined", "track my parcel please",
    "I want to upgrade my plan", "can you send me a receipt", "update my email address",
    "my bill is higher than usual", "how do I return an item", "is there a student discount",
    "I need to report a missing item", "can I pay in instalments",
)  # fmt: skip

#: Bot messages that offer a person, and ones that ask something else, for "yes please".
_OFFERS = (
    "Would you like me to connect you with an agent?",
    "I can transfer you to a member of our team. Shall I do that?",
    "Do you want to speak to someone from customer service?",
    "Would you like a callback from one of our advisors?",
    "I can arrange for a specialist to call you. Would that help?",
)
_OTHER_QUESTIONS = (
    "Would you like a receipt by email?", "Shall I book the 10:15 train for you?",
    "Do you want me to add insurance to the order?", "Would you like to hear about our offers?",
    "Is there anything else I can help you with?", "Shall I send the tracking link by text?",
)  # fmt: skip
_YES = ("yes please", "yes", "yeah go on", "please do", "ok", "yes that would be great", "sure")
_NO = ("no thanks", "no", "not now", "no I'm fine", "nope")

# --------------------------------------------------------------------------- distress

_BEREAVEMENT = (
    "my husband passed away last month", "my wife died two weeks ago", "my mum died on Sunday",
    "my father passed away and I'm dealing with his accounts", "we lost our son in March",
    "my partner died suddenly", "I'm sorting out my late mother's affairs",
    "my dad passed last week", "I've just lost my wife", "my brother was killed in an accident",
    "the account holder has died", "my grandmother passed away and she had a contract with you",
    "I'm the executor of my aunt's estate, she died in January", "my baby died",
)  # fmt: skip
_ILLNESS = (
    "I've just been diagnosed with cancer", "I'm in hospital at the moment",
    "I've had a stroke and can't use my hands well", "I'm going through chemotherapy",
    "my son is seriously ill in intensive care", "I've been signed off sick for months",
    "I have dementia and get confused with these things", "I'm recovering from major surgery",
    "I'm terminally ill", "my wife has been in hospital since the accident",
    "I've got a serious heart condition", "I'm disabled and can't get to the shop",
)  # fmt: skip
_MONEY = (
    "I lost my job last week", "I've been made redundant", "I was laid off yesterday",
    "I can't afford to pay this month", "I'm behind on my rent and bills",
    "I have no money left until payday", "I can't pay this bill", "I'm in a lot of debt",
    "I'm struggling to feed my kids", "the bailiffs have been round",
    "I've had to use a food bank", "my benefits were stopped and I've got nothing",
    "my business went under", "I can't keep up with the repayments", "I'm about to be evicted",
)  # fmt: skip
_SAFETY = (
    "my ex is threatening me", "I'm scared of my partner", "I'm being stalked",
    "someone has threatened to hurt me", "I'm fleeing domestic abuse",
    "I don't feel safe at home", "my ex must not find out my new address",
    "someone is following me and I'm frightened", "he hits me", "I've had to go to a refuge",
)  # fmt: skip
_MENTAL = (
    "I can't cope anymore", "I'm not coping at all", "I feel like ending it all",
    "I've been really depressed and can't deal with this", "I'm having a breakdown",
    "I don't see the point of anything", "my anxiety is through the roof and I can't think",
    "I'm at breaking point",
)  # fmt: skip
_DISTRESS_TAILS = (
    "", "", "and I need to close the account", "so I need to cancel the direct debit",
    "what do I do about the bill?", "can I pause my payments?", "and now this bill has arrived",
    "and I don't know what to do", "please can you help", "I need to change the name on the account",
    "can I get more time to pay?", "so I can't make the appointment",
    "and I need to stop the contract", "and I'm getting letters from you",
)  # fmt: skip

#: Negative about the topic, fiction, trivia or mild annoyance: not vulnerability.
_NOT_DISTRESS = (
    "that film was terrifying", "I hate horror films", "the ending of the book was so sad",
    "the weather there is awful", "I'm gutted my team lost", "I'm sad my holiday is over",
    "spiders scare me so I want the room on a high floor", "I'm scared of flying so an aisle seat please",
    "my phone died, can you resend the code?", "the battery is dead", "this printer is killing me",
    "the killer in that show was creepy", "I'm dying to try the new menu",
    "my plant died so I don't need the fertiliser any more", "I lost my receipt",
    "I lost my password", "I'm broke this week, is there a cheaper plan?",
    "this queue is painful", "I'm a bit worried the parcel will be late",
    "I'm so nervous about my exam tomorrow haha", "my fantasy football team is dead",
    "the hotel was depressing, grey walls everywhere", "that game was a massacre",
    "I'm sick of the colour, can I swap it?", "my cat hates the new food",
    "I'd kill for a coffee right now", "I was so scared the tickets would sell out",
    "the movie made me cry", "I'm annoyed the app logged me out", "my laptop is dying",
)  # fmt: skip

#: Complaints about money that are not money trouble: a customer who was overcharged is
#: unhappy with the service, not in a vulnerable situation.
_MONEY_COMPLAINTS = (
    "you've taken the payment out twice", "there are two identical charges on my card",
    "I've been billed for a month I cancelled", "why has my direct debit gone up?",
    "the late fee on my statement is wrong", "I want my money back for the faulty kettle",
    "my refund still hasn't come through", "you overcharged me on the last invoice",
    "the price went up without any warning", "I'm paying for a plan I never signed up to",
    "you charged my card after I closed the account", "there's a fee on here I don't recognise",
    "stop taking money from my account for this service", "the bill is double what it normally is",
    "I was promised a discount and it's not on the bill", "your app took the payment three times",
    "I paid on time and still got a penalty charge", "the delivery fee should have been refunded",
    "I've been charged for roaming I didn't use", "my deposit hasn't been returned",
    "the invoice has the wrong amount on it", "I'm being charged VAT twice",
    "cancel the subscription and refund the last payment",
    "the annual renewal went through without asking me",
)  # fmt: skip

# --------------------------------------------------------------------------- dissatisfaction

#: (bot message, customer reply) pairs where the customer is unhappy with the service.
_UNHAPPY_PAIRS = (
    ("Refunds take 5-7 working days.", "It's been four months."),
    ("Refunds take 5-7 working days.", "that's what you said in March"),
    ("Your order is on its way.", "it was supposed to come three weeks ago"),
    ("Your order is on its way.", "you've been saying that since last Tuesday"),
    ("Can you tell me your order number?", "I've already given it to you twice"),
    ("Can you tell me your order number?", "I just told you, it's 88231"),
    ("Here are some articles that might help: How to reset your router.", "that's not what I asked"),
    ("Here are some articles that might help: How to reset your router.", "I've done all that already"),
    ("Is there anything else I can help you with?", "you haven't helped with the first thing"),
    ("Is there anything else I can help you with?", "well you didn't actually answer my question"),
    ("I'm sorry, I didn't understand that.", "how many times do I have to say it"),
    ("I'm sorry, I didn't understand that.", "it's a simple question"),
    ("Please check our FAQ page.", "I've read the FAQ, it doesn't cover this"),
    ("Your complaint has been logged.", "that's what happened last time and nothing changed"),
    ("An engineer will be in touch.", "nobody has been in touch in six weeks"),
    ("We aim to reply within 48 hours.", "I emailed ten days ago and heard nothing"),
    ("Could you try restarting the device?", "I've restarted it five times"),
    ("The issue should now be resolved.", "it isn't, it's still broken"),
    ("Your account is up to date.", "then why have I been charged twice?"),
    ("Thanks for waiting.", "I've been waiting for 40 minutes"),
    ("I can help you with billing, orders or deliveries.", "none of those, you're not listening"),
    ("Would you like to track your parcel?", "no, I want to know why it's lost"),
    ("I have found 3 matching restaurants.", "those are all in the wrong area again"),
    ("Your booking is confirmed for the 3rd.", "no, I said the 13th, that's wrong again"),
    ("Let me check that for you.", "you said that ten minutes ago"),
    ("Our technicians are looking into it.", "they've been looking into it since January"),
    ("Please allow up to 10 days for delivery.", "it's been a month"),
    ("I understand your frustration.", "clearly you don't"),
    ("Can I help with anything else today?", "this is the third time I've contacted you about this"),
    ("Your case number is 55123.", "I already have three case numbers for the same problem"),
    ("I'm sorry to hear that.", "sorry doesn't fix my broadband"),
    ("Could you describe the problem?", "I described it in detail yesterday and the day before"),
    ("Please try again later.", "I've been trying again later all week"),
    ("That item is out of stock.", "it was out of stock last month too and you said two weeks"),
    ("Your payment is being processed.", "it's been processing since the 2nd"),
    ("Is your question about a delivery?", "I've answered that already"),
    ("I'm not able to help with that.", "then what are you for?"),
    ("Have you tried logging out and back in?", "yes, obviously, several times"),
    ("We will call you within 24 hours.", "nobody called"),
    ("The replacement has been sent.", "it hasn't arrived and that was a fortnight ago"),
)  # fmt: skip
#: Statements that are unhappy whatever the bot said before.
_UNHAPPY_ANYWHERE = (
    "I've been waiting since March for this", "still not fixed after three months",
    "this is the fourth time I've had to explain this", "I keep getting passed around",
    "nobody ever gets back to me", "I've spent hours on this already",
    "why do I have to repeat everything", "I've been chasing this for weeks",
    "you promised a call back and it never happened", "I've contacted you three times about the same bill",
    "I'm going round in circles here", "this is the worst service I've had",
    "I'm still waiting for the refund you promised", "every time I ask I get a different answer",
    "it still doesn't work", "you're not answering my question", "that doesn't help at all",
    "it's been six weeks", "second time this month I'm asking",
)  # fmt: skip
#: The same kind of words, said in answer to a question: a fact, not dissatisfaction.
_FACT_PAIRS = (
    ("How long have you had the device?", "It's been four months."),
    ("How long have you had the device?", "about six weeks"),
    ("When did you place the order?", "it was three weeks ago"),
    ("When did the problem start?", "since March"),
    ("How long ago did you move in?", "it's been a month"),
    ("How many times has it happened?", "three times this week"),
    ("Which date would you like?", "the 13th please"),
    ("How long will you be staying?", "four nights"),
    ("When were you last in touch with us?", "I called in January"),
    ("How old is the boiler?", "it's been about ten years"),
    ("How often do you travel?", "every week"),
    ("How many people are in the booking?", "four"),
)  # fmt: skip
#: Negative about the topic while the service is going fine: not dissatisfaction.
_TOPIC_NEGATIVE_PAIRS = (
    ("What genre of film would you like?", "no, I hate horror"),
    ("What genre of film would you like?", "anything but romance, they're awful"),
    ("I found a showing of It at 7pm.", "that film was terrifying last time"),
    ("Would you like a table outside?", "no, the weather is miserable"),
    ("I found a flight via Frankfurt.", "ugh, I hate layovers but fine"),
    ("What would you like to listen to?", "something sad, I'm in that kind of mood"),
    ("Shall I book the museum tour?", "museums bore me to death, something else"),
    ("How was your stay?", "the town was depressing but the hotel was fine"),
    ("Which team's tickets are you after?", "the one that lost horribly on Saturday"),
    ("Do you want the spicy option?", "no, spicy food makes me miserable"),
    ("I can book the 6am train.", "early mornings are the worst, but ok"),
    ("Any dietary requirements?", "I can't stand mushrooms"),
    ("Would you like the film with subtitles?", "yes, the dubbed ones are horrible"),
    ("Here is the forecast: heavy rain all week.", "great, just what I needed, thanks for checking"),
)  # fmt: skip
#: Ordinary replies in a task dialogue.
_NEUTRAL_PAIRS = (
    ("Where would you like to go?", "to Cambridge on Friday"),
    ("Can you tell me your order number?", "it's 55812"),
    ("Your booking is confirmed.", "great, thank you"),
    ("Is there anything else I can help you with?", "no, that's all, thanks"),
    ("Would you like me to book it?", "yes please"),
    ("I found 5 hotels in the north.", "any with free parking?"),
    ("Your refund has been processed.", "brilliant, thanks for your help"),
    ("What time would you like to arrive?", "around 10 in the morning"),
    ("Shall I send the confirmation by email?", "text is better for me"),
    ("The restaurant serves Italian food.", "perfect, book a table for two"),
)  # fmt: skip

#: Interjections and asides that do not change what a message asks (training only).
INTERJECTIONS: tuple[str, ...] = (
    "Unbelievable.", "ugh", "Ugh!", "Seriously?", "Honestly.", "OK.", "ok so", "Hi,", "Hello.",
    "Right.", "Look,", "Listen.", "Wow.", "Great.", "Sigh.", "FFS", "hmm", "Come on.", "Jeez.",
    "Please.", "Hey there,", "Sorry,", "Thanks.", "Well...", "Oh dear.", "Typical.", "!!!",
    "Good morning.", "I mean,", "Fine.",
)  # fmt: skip


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def _join(*parts: str) -> str:
    return " ".join(p.strip() for p in parts if p and p.strip())


def _requests(rng: random.Random) -> Iterator[WrittenExample]:
    for ask in _ASK:
        for person in rng.sample(_PERSON, 6):
            tail = rng.choice(("", "", "please", "now", "right now", "asap", "today"))
            yield WrittenExample(_join(ask, person, tail), "human_request", 1.0)
    for text in (*_ASK_SHORT, *_CALLBACK, *_CALLBACK):
        yield WrittenExample(text, "human_request", 1.0)
    for complaint in _NOT_BOT:
        for _ in range(3):
            ask = rng.choice((*_ASK_SHORT, *(f"{a} {p}" for a in _ASK[:8] for p in _PERSON[:8])))
            yield WrittenExample(_join(_cap(complaint) + ",", ask), "human_request", 1.0)
        yield WrittenExample(complaint, "human_request", 0.0)
    for info in _INFO_REQUESTS:
        ask = rng.choice((*_ASK_SHORT, *_CALLBACK))
        yield WrittenExample(_join(_cap(info) + ".", "Also", ask), "human_request", 1.0)
        yield WrittenExample(_join(_cap(ask) + ".", info), "human_request", 1.0)
        yield WrittenExample(info, "human_request", 0.0)
    for text in (*_ABOUT_PEOPLE, *_ABOUT_PEOPLE):
        yield WrittenExample(text, "human_request", 0.0)
    for offer in _OFFERS:
        for yes in _YES:
            yield WrittenExample(yes, "human_request", 1.0, bot=offer)
        for no in _NO:
            yield WrittenExample(no, "human_request", 0.0, bot=offer)
    for question in _OTHER_QUESTIONS:
        for yes in _YES:
            yield WrittenExample(yes, "human_request", 0.0, bot=question)


def _distress(rng: random.Random) -> Iterator[WrittenExample]:
    situations = (*_BEREAVEMENT, *_ILLNESS, *_MONEY, *_SAFETY, *_MENTAL)
    for situation in situations:
        for tail in rng.sample(_DISTRESS_TAILS, 4):
            text = _join(situation + ("," if tail else ""), tail)
            yield WrittenExample(_cap(text), "distress", 1.0)
    for text in (*_NOT_DISTRESS, *_NOT_DISTRESS, *_MONEY_COMPLAINTS, *_MONEY_COMPLAINTS):
        yield WrittenExample(text, "distress", 0.0)
    for info in _INFO_REQUESTS:
        yield WrittenExample(info, "distress", 0.0)
    for bot, user in (*_TOPIC_NEGATIVE_PAIRS, *_UNHAPPY_PAIRS[:20]):
        yield WrittenExample(user, "distress", 0.0, bot=bot)


def _dissatisfaction(rng: random.Random) -> Iterator[WrittenExample]:
    for bot, user in _UNHAPPY_PAIRS:
        yield WrittenExample(user, "dissatisfaction", 1.0, bot=bot)
        yield WrittenExample(user, "dissatisfaction", 1.0, bot=bot, user=rng.choice(_INFO_REQUESTS))
    for text in _UNHAPPY_ANYWHERE:
        for bot in rng.sample([b for b, _ in (*_NEUTRAL_PAIRS, *_UNHAPPY_PAIRS)], 2):
            yield WrittenExample(text, "dissatisfaction", 1.0, bot=bot)
        yield WrittenExample(text, "dissatisfaction", 1.0)
    for bot, user in (*_FACT_PAIRS, *_TOPIC_NEGATIVE_PAIRS, *_NEUTRAL_PAIRS):
        yield WrittenExample(user, "dissatisfaction", 0.0, bot=bot)
        yield WrittenExample(user, "dissatisfaction", 0.0, bot=bot, user=rng.choice(_INFO_REQUESTS))
    for text in _NOT_DISTRESS:
        yield WrittenExample(text, "dissatisfaction", 0.0)


def written_examples(seed: int = 13) -> list[WrittenExample]:
    """Every written example, combined with a generator seeded by ``seed``."""
    rng = random.Random(seed)
    out = [*_requests(rng), *_distress(rng), *_dissatisfaction(rng)]
    return out


def interjection(rng: random.Random, choices: Sequence[str] = INTERJECTIONS) -> str:
    """One interjection, for augmentation."""
    return rng.choice(choices)
