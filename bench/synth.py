"""Synthetic paper specs for benchmarks: abstracts-only papers composed from a computer-vision / ML vocabulary.

The vocabulary overlaps the real digest topics (Gaussian splatting, radiance fields, diffusion, avatars, talking
heads, video), so the synthetic papers are plausible distractors for retrieval: they share words with real
papers without saying what any one real paper says. Deterministic for a given seed. All text is generated here.
"""
from __future__ import annotations

import random

TASKS = [
    "novel view synthesis", "sparse-view reconstruction", "text-to-3D generation", "talking head generation",
    "video virtual try-on", "human avatar reconstruction", "image inverse problems", "video editing",
    "semantic segmentation", "monocular depth estimation", "camera pose estimation", "scene relighting",
    "image super-resolution", "text-to-image generation", "motion generation", "point cloud completion",
    "visual SLAM", "garment simulation", "face reenactment", "deepfake detection", "change captioning",
    "image quality assessment", "open-vocabulary detection", "video action recognition", "3D scene editing",
    "surface reconstruction", "dynamic scene rendering", "audio-driven animation", "story visualization",
    "medical image segmentation", "remote sensing classification", "image inpainting", "style transfer",
    "object tracking", "hand pose estimation", "spectrogram synthesis", "world modeling", "reward modeling",
]
METHODS = [
    "3D Gaussian splatting", "neural radiance fields", "latent diffusion", "score distillation sampling",
    "a vision transformer", "a tri-plane representation", "a hash-grid encoding", "a flow-matching model",
    "a signed distance field", "a deformable mesh", "a multi-view diffusion prior", "a codebook of latent tokens",
    "a mixture of experts", "a graph neural network", "contrastive pretraining", "a state-space model",
    "an implicit neural surface", "a point-based renderer", "a conditional GAN", "knowledge distillation",
    "low-rank adaptation", "a large language model planner", "a cross-attention adapter", "optical flow guidance",
]
COMPONENTS = [
    "an adaptive density control scheme", "a depth-aware regularizer", "a frequency-decoupled loss",
    "a temporal consistency module", "a learnable appearance embedding", "an opacity pruning step",
    "a coarse-to-fine optimization schedule", "a pose refinement branch", "a visibility-aware sampler",
    "a hierarchical feature pyramid", "a normal consistency loss", "an uncertainty estimation head",
    "a keyframe selection strategy", "a semantic feature field", "a residual motion field", "a lighting decomposition",
    "a memory bank of prototypes", "a classifier-free guidance schedule", "a noise-level embedding",
    "a cross-view attention block", "an identity preservation loss", "a spherical harmonics compressor",
    "a learned upsampling kernel", "a geometry-guided densification", "a progressive training curriculum",
]
DATASETS = [
    "DTU", "LLFF", "Mip-NeRF 360", "Tanks and Temples", "ScanNet", "Replica", "HDTF", "VoxCeleb2", "CelebA-HQ",
    "FFHQ", "ImageNet", "MS-COCO", "Kinetics-400", "ShapeNet", "Objaverse", "ZJU-MoCap", "People-Snapshot",
    "NeRF Synthetic", "KITTI", "nuScenes", "LEVIR-CD", "DAVIS", "HumanML3D", "VITON-HD", "BraTS", "ADE20K",
]
METRICS = [("PSNR", "dB", 20, 35), ("SSIM", "", 0.7, 0.98), ("LPIPS", "", 0.05, 0.3), ("FID", "", 5, 40),
           ("mIoU", "%", 30, 80), ("top-1 accuracy", "%", 60, 90), ("Chamfer distance", "mm", 1, 9)]
PROBLEMS = [
    "existing methods blur fine details", "prior work needs dense input views", "current pipelines are slow to train",
    "previous approaches drift over long sequences", "earlier models overfit when data is scarce",
    "most systems ignore temporal consistency", "existing representations consume too much memory",
    "state-of-the-art methods fail under strong motion", "prior models cannot generalize to unseen scenes",
    "current methods entangle geometry and appearance",
]
ADJ = ["Fast", "Robust", "Compact", "Generalizable", "Efficient", "Controllable", "Consistent", "Scalable",
       "Zero-Shot", "Lightweight", "High-Fidelity", "Unified", "Self-Supervised", "Real-Time"]
SYLLABLES = ["ne", "ra", "ko", "lu", "vi", "sa", "to", "mi", "dre", "gau", "spla", "fu", "xe", "zor", "qua", "pi"]
TOPICS = ["3DGS", "NeRF", "Diffusion Models", "Talking Head Generation", "Video Understanding", "Avatars"]
NAMES = ["Ana", "Bo", "Chen", "Dara", "Eli", "Farah", "Goran", "Hana", "Ivo", "Jun", "Kira", "Lars", "Mei", "Nils"]
SURNAMES = ["Abe", "Berg", "Costa", "Dahl", "Evans", "Faro", "Gupta", "Hale", "Ito", "Jensen", "Kato", "Lima"]


def _name(rng: random.Random) -> str:
    word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3)))
    suffix = rng.choice(["", "GS", "Net", "Former", "Diff", "NeRF", "-X", "Fusion"])
    return word.capitalize() + suffix


def synthetic_spec(i: int, rng: random.Random, date: str = "2024-06-01") -> dict:
    """One abstracts-only paper spec (the samples.corpus spec keys, without sections/references)."""
    name, task, method = _name(rng), rng.choice(TASKS), rng.choice(METHODS)
    comps = rng.sample(COMPONENTS, 3)
    data = rng.sample(DATASETS, 2)
    metric, unit, lo, hi = rng.choice(METRICS)
    value = round(rng.uniform(lo, hi), 2)
    title = f"{name}: {rng.choice(ADJ)} {task.title()} with {method[0].upper() + method[1:]}"
    sentences = [
        f"{task[0].upper() + task[1:]} is a core problem, but {rng.choice(PROBLEMS)}.",
        f"We present {name}, which builds on {method} and introduces {comps[0]}.",
        f"To handle {rng.choice(PROBLEMS).split(' ', 2)[-1]}, we add {comps[1]} and {comps[2]}.",
        f"The model is trained end to end and runs at {rng.randint(5, 200)} frames per second on one GPU.",
        f"Experiments on {data[0]} and {data[1]} show that {name} reaches {value}{(' ' + unit) if unit else ''} "
        f"{metric}, outperforming {rng.randint(3, 9)} recent baselines.",
        f"Ablations confirm that {comps[rng.randint(0, 2)]} accounts for most of the gain.",
    ]
    rng.shuffle(sentences[2:4])
    return {
        "id": f"2406.{i:05d}", "version": 1, "date": date, "topic": rng.choice(TOPICS), "title": title,
        "authors": [f"{rng.choice(NAMES)} {rng.choice(SURNAMES)}" for _ in range(rng.randint(2, 4))],
        "affiliation": "Synthetic University", "comment": None, "abstract": " ".join(sentences),
        "sections": [], "references": [],
    }


def synthetic_specs(n: int, seed: int = 0, date: str = "2024-06-01") -> list[dict]:
    rng = random.Random(seed)
    return [synthetic_spec(i, rng, date) for i in range(1, n + 1)]
