"""A synthetic reference library and arXiv day whose right ranking is known by construction (tests, bench).

Six fictional research topics, each with its own vocabulary. A paper of a topic gets a title and an abstract
drawn mostly from its topic's words plus words every paper shares. The library's papers come from the topics
the library is "about"; the day's papers come from every topic, so a good ranking puts the day's papers of the
library's topics above the others. Deterministic for a given seed. All text is ours.
"""
from __future__ import annotations

import random

TOPICS: dict[str, list[str]] = {
    "diffusion": ("diffusion denoising score sampler noise schedule guidance latent image synthesis generative "
                  "reverse process variance timestep classifier-free inpainting super-resolution text-to-image "
                  "ddpm unet decoder prior likelihood").split(),
    "graphs": ("graph node edge message passing neighbourhood molecule adjacency spectral convolution pooling "
               "heterophily link prediction subgraph isomorphism citation network relational vertex walk "
               "oversmoothing laplacian").split(),
    "robotics": ("robot manipulation grasp gripper arm locomotion policy sim-to-real controller trajectory "
                 "torque contact legged quadruped teleoperation dexterous actuator kinematics odometry "
                 "navigation obstacle").split(),
    "speech": ("speech audio waveform spectrogram speaker phoneme acoustic asr transcription vocoder prosody "
               "utterance microphone noise-robust keyword spotting diarization pitch mel accent "
               "voice").split(),
    "optimization": ("gradient convergence stochastic optimizer momentum learning-rate convex loss landscape "
                     "adam sgd curvature hessian regret bound step-size warmup saddle minimizer lipschitz "
                     "variance-reduction").split(),
    "security": ("adversarial attack perturbation robustness certified defense backdoor poisoning jailbreak "
                 "privacy membership inference watermark threat evasion trigger differential leakage "
                 "red-teaming exploit").split(),
}
_COMMON = ("we propose method results show model data training benchmark performance approach experiments "
           "novel framework evaluate task state-of-the-art efficient large improve baseline study analysis "
           "across demonstrate").split()
_SURNAMES = ("Alonso Baker Chen Dubois Eriksen Fischer Garcia Haddad Ito Jensen Kowalski Laurent Moreau Nakamura "
             "Okafor Petrov Quinn Rossi Sato Tanaka Umarov Vargas Weber Xu Yilmaz Zhang").split()
_GIVEN = "Ana Ben Chloe Dev Emi Femi Gia Hugo Ines Jon Kai Lea Mo Noor Omar Pia Raj Sol Tess Uma".split()


def make_paper(topic: str, rng: random.Random, serial: int, topical: float = 0.45) -> dict:
    """One paper of `topic`: title, authors, abstract (about 60 words, `topical` of them from the topic; the
    title has round(6 * topical) topic words, so a low `topical` makes the paper hard to place)."""
    vocab = TOPICS[topic]
    n_topic = min(3, round(6 * topical))
    title_words = rng.sample(vocab, n_topic) + rng.sample(_COMMON, 5 - n_topic)
    rng.shuffle(title_words)
    words = [rng.choice(vocab) if rng.random() < topical else rng.choice(_COMMON) for _ in range(60)]
    abstract = " ".join(words).capitalize() + "."
    authors = [f"{rng.choice(_GIVEN)} {rng.choice(_SURNAMES)}" for _ in range(rng.randint(1, 4))]
    return {"topic": topic, "title": " ".join(title_words).capitalize() + f" {serial}", "authors": authors,
            "abstract": abstract}


def make_library(n: int, about: list[str], seed: int = 0, topical: float = 0.45) -> list[dict]:
    rng = random.Random(seed)
    return [make_paper(about[i % len(about)], rng, i, topical) for i in range(n)]


def make_day(n: int, seed: int = 1, first_id: int = 1, topical: float = 0.45) -> list[dict]:
    """`n` papers cycling through every topic, with fictional arXiv ids 2406.7NNNN."""
    rng = random.Random(seed)
    names = list(TOPICS)
    out = []
    for i in range(n):
        p = make_paper(names[i % len(names)], rng, 1000 + i, topical)
        p["id"] = f"2406.{70000 + first_id + i}"
        out.append(p)
    return out


def library_bib(papers: list[dict]) -> str:
    """The library as a BibTeX file (one @article per paper, abstract included)."""
    entries = []
    for i, p in enumerate(papers):
        authors = " and ".join(p["authors"])
        entries.append(f"@article{{lib{i},\n  title = {{{p['title']}}},\n  author = {{{authors}}},\n"
                       f"  journal = {{Journal of Synthetic Results}},\n  year = {{2023}},\n"
                       f"  abstract = {{{p['abstract']}}},\n  keywords = {{{p['topic']}}}\n}}\n")
    return "\n".join(entries)


def day_feed(papers: list[dict], date: str) -> str:
    """The day as an arXiv Atom feed (every paper published on `date`)."""
    from xml.sax.saxutils import escape

    items = []
    for p in papers:
        authors = "".join(f"<author><name>{escape(a)}</name></author>" for a in p["authors"])
        items.append(
            f"<entry><id>http://arxiv.org/abs/{p['id']}v1</id><updated>{date}T00:00:00Z</updated>"
            f"<published>{date}T00:00:00Z</published><title>{escape(p['title'])}</title>"
            f"<summary>{escape(p['abstract'])}</summary>{authors}"
            f'<link href="http://arxiv.org/abs/{p["id"]}v1" rel="alternate" type="text/html"/>'
            f'<arxiv:primary_category xmlns:arxiv="http://arxiv.org/schemas/atom" term="cs.LG"/>'
            f'<category term="cs.LG"/></entry>')
    return ('<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom" '
            'xmlns:arxiv="http://arxiv.org/schemas/atom"><title>synthetic day</title>' + "".join(items) + "</feed>")


def pairwise_accuracy(ranked_ids: list[str], relevant: set[str]) -> float:
    """How often a relevant paper ranks above an irrelevant one, over all such pairs (1.0 perfect, 0.5 chance)."""
    pos = {pid: i for i, pid in enumerate(ranked_ids)}
    rel = [pos[p] for p in ranked_ids if p in relevant]
    irr = [pos[p] for p in ranked_ids if p not in relevant]
    if not rel or not irr:
        return float("nan")
    wins = sum(1 for r in rel for i in irr if r < i)
    return wins / (len(rel) * len(irr))
