"""The bundled sample corpus: fictional papers written by us for the demo and the tests.

Each paper is a plain dict spec. `samples.pdfgen` renders a spec to a PDF, `samples.pages` renders specs to a
digest page (the ../shared format) and to an arXiv Atom feed. No third-party text is used here.

Spec keys: id (arXiv-style, fictional), version, date (ISO, the digest/announcement date), topic, title,
authors, affiliation, comment, abstract, sections: list of (heading, [paragraph, ...]), references: [str].
"topic" is one topic name or a list of them (a paper listed under two digest topics).

QUESTIONS pairs paraphrased questions with the paper that answers them ("id"), or with "expect": "none" when no
paper in the corpus answers them; retrieval and answer tests use them.
"""
from __future__ import annotations

PAPERS: list[dict] = [
    {
        "id": "2405.90001",
        "version": 1,
        "date": "2024-05-22",
        "topic": "Video Understanding",
        "title": "SliceFormer: Spatiotemporal Slices for Efficient Video Action Recognition",
        "authors": ["Mira Okafor", "Tomasz Lindqvist", "Aiko Hamada"],
        "affiliation": "Northlake Institute of Technology",
        "comment": "CVPR 2024 workshop. Code at https://example.org/sliceformer",
        "abstract": (
            "Video transformers spend most of their compute on redundant frames. We propose SliceFormer, which "
            "cuts each clip into spatiotemporal slices: thin planes that keep one spatial axis and the time axis. "
            "A slice encoder turns every slice into a short token sequence, and a lightweight fusion module mixes "
            "the horizontal and vertical slice tokens. On the Kinetics-400 benchmark SliceFormer reaches 81.2% "
            "top-1 accuracy while using 3.1 times fewer FLOPs than a frame-based ViT baseline."
        ),
        "sections": [
            ("1 Introduction", [
                "Action recognition models built on vision transformers process every frame as a grid of patches, "
                "so their cost grows linearly with clip length. Most of these patches change little from one frame "
                "to the next, which wastes computation on redundant content.",
                "We observe that motion is easiest to see in spatiotemporal slices, the images obtained by fixing "
                "one row or one column of pixels and stacking it over time. Moving objects draw slanted streaks "
                "in such slices, while the static background draws straight lines.",
            ]),
            ("2 Related Work", [
                "Two-stream networks combine appearance with optical flow, which is expensive to compute. "
                "Token pruning methods drop patches after the first layers but still pay for patch embedding of "
                "every frame. Earlier work used epipolar plane images for depth estimation, not for recognition.",
            ]),
            ("3 Method", [
                "SliceFormer samples 16 horizontal and 16 vertical slices per clip. Each slice is a 2D image of "
                "size T by W or T by H, where T is the number of frames.",
                "A shared slice encoder with four transformer layers maps each slice to 8 tokens. A fusion module "
                "with cross-attention exchanges information between horizontal and vertical slice tokens, and a "
                "classification head predicts the action from the pooled tokens.",
            ]),
            ("4 Experiments", [
                "We train on Kinetics-400 and Something-Something V2 with the same recipe as the ViT baseline. "
                "SliceFormer reaches 81.2% top-1 accuracy on Kinetics-400 and 68.4% on Something-Something V2.",
                "The model needs 3.1 times fewer FLOPs than the frame-based baseline and runs at 240 clips per "
                "second on one A100 GPU. Removing the fusion module lowers accuracy by 2.7 points.",
            ]),
            ("5 Conclusion", [
                "Spatiotemporal slices are a compact view of video that keeps motion cues. SliceFormer shows that "
                "a recognition model can work on slices alone and save most of the compute of frame-based models.",
            ]),
        ],
        "references": [
            "[1] A. Author. An image is worth 16x16 words. ICLR, 2021.",
            "[2] B. Author. Two-stream convolutional networks for action recognition. NeurIPS, 2014.",
        ],
    },
    {
        "id": "2405.90002",
        "version": 2,
        "date": "2024-05-22",
        "topic": "3DGS",
        "title": "FrostSplat: Codebook Compression of 3D Gaussian Splatting Scenes for Mobile Rendering",
        "authors": ["Elena Varga", "Joon-ho Park", "Samuel Adeyemi"],
        "affiliation": "Baltic Centre for Visual Computing",
        "comment": "Project page: https://example.org/frostsplat",
        "abstract": (
            "3D Gaussian Splatting renders novel views in real time, but a single outdoor scene can occupy more than "
            "700 MB because every Gaussian stores its own colour coefficients. We present FrostSplat, which prunes "
            "low-opacity Gaussians, quantises the spherical-harmonics colours with a learned codebook of 4096 "
            "entries, and sorts the remaining Gaussians along a Morton curve so that an entropy coder can compress "
            "positions. On the Mip-NeRF 360 scenes FrostSplat shrinks the average model from 734 MB to 14 MB, a 52 "
            "times reduction, while PSNR drops by only 0.2 dB to 27.4 dB."
        ),
        "sections": [
            ("1 Introduction", [
                "Gaussian splatting represents a scene with millions of anisotropic Gaussians and rasterises them in "
                "depth order. Its memory footprint keeps it off phones and head-mounted displays.",
                "Most of the storage goes to view-dependent colour: 48 spherical-harmonics coefficients per Gaussian. "
                "Neighbouring Gaussians often share nearly the same colour behaviour.",
            ]),
            ("2 Related Work", [
                "Neural radiance fields compress well but render slowly. Earlier splatting compressors prune "
                "Gaussians by size alone and do not share colour parameters between them.",
            ]),
            ("3 Method", [
                "FrostSplat first removes Gaussians whose opacity stays below 0.005 during the last 5,000 training "
                "iterations, which deletes 61% of them on average.",
                "The spherical-harmonics coefficients of the remaining Gaussians are replaced by indices into a "
                "learned codebook with 4096 entries, fine-tuned jointly with the scene for 3,000 iterations. "
                "Positions are ordered along a Morton curve and stored as half-precision deltas before entropy coding.",
            ]),
            ("4 Experiments", [
                "We evaluate on Mip-NeRF 360, Tanks and Temples and Deep Blending. On Mip-NeRF 360 the average model "
                "size falls from 734 MB to 14 MB and PSNR goes from 27.6 dB to 27.4 dB.",
                "Decoding a compressed scene takes 1.8 seconds, and the decoded scene renders at 190 frames per "
                "second on an RTX 4090 and at 38 frames per second on a Snapdragon 8 Gen 2 phone.",
            ]),
            ("5 Conclusion", [
                "Sharing colour through a codebook and ordering positions along a space-filling curve make Gaussian "
                "splatting scenes small enough for mobile devices with almost no loss of quality.",
            ]),
        ],
        "references": [
            "[1] C. Author. 3D Gaussian splatting for real-time radiance field rendering. SIGGRAPH, 2023.",
            "[2] D. Author. Mip-NeRF 360: unbounded anti-aliased neural radiance fields. CVPR, 2022.",
        ],
    },
    {
        "id": "2405.90003",
        "version": 1,
        "date": "2024-05-22",
        "topic": ["Talking Head Generation", "Diffusion Models"],
        "title": "EchoFace: Phoneme-Aware Diffusion for Audio-Driven Talking-Head Video",
        "authors": ["Lucia Ferreira", "Haruto Sato", "Priya Raman", "Oskar Brandt"],
        "affiliation": "Meridian University, School of Computing",
        "comment": "Accepted to SIGGRAPH Asia 2024",
        "abstract": (
            "Audio-driven talking-head models often produce blurry mouths and drifting identities over long clips. "
            "EchoFace generates a talking-head video from one portrait photo and a speech recording with a latent "
            "diffusion model conditioned on phonemes. A viseme memory bank of 48 learned mouth shapes guides the "
            "denoiser, and an identity anchor re-injects the reference portrait every 16 frames. On the HDTF "
            "dataset EchoFace reaches an LSE-D lip-sync distance of 6.92 and an FID of 12.3, and it renders 512 by "
            "512 video at 25 frames per second."
        ),
        "sections": [
            ("1 Introduction", [
                "Talking-head generation animates a face so that its lips follow a speech signal. Regression models "
                "average over plausible mouth shapes and blur the lips, while GAN models flicker between frames.",
                "Speech is a sequence of phonemes, and each phoneme maps to a small set of visible mouth shapes called "
                "visemes. EchoFace makes this mapping explicit.",
            ]),
            ("2 Related Work", [
                "Wav2Lip-style models edit only the mouth region of an existing video. One-shot methods animate a "
                "still portrait with motion fields but lose identity over long sequences.",
            ]),
            ("3 Method", [
                "A forced aligner turns the audio into a phoneme sequence at 25 frames per second. Each phoneme "
                "queries a viseme memory bank of 48 learned mouth-shape embeddings through cross-attention.",
                "The latent diffusion denoiser is conditioned on the viseme embeddings and on head-pose tokens. To "
                "stop identity drift, an identity anchor re-injects features of the reference portrait every 16 "
                "frames. Sampling uses 25 denoising steps per window of 16 frames.",
            ]),
            ("4 Experiments", [
                "We train on VoxCeleb2 and evaluate on HDTF and on the MEAD emotional speech set. On HDTF EchoFace "
                "reaches an LSE-D of 6.92, an LSE-C of 8.41 and an FID of 12.3.",
                "In a user study with 40 participants, 71% preferred EchoFace over the strongest baseline for lip "
                "synchronisation. Removing the identity anchor raises the identity distance by 38% on one-minute clips.",
            ]),
            ("5 Conclusion", [
                "Conditioning a diffusion model on phoneme-level viseme memories gives sharp, well-synchronised lips, "
                "and periodic identity anchoring keeps long talking-head videos faithful to the portrait.",
            ]),
        ],
        "references": [
            "[1] E. Author. A lip sync expert is all you need for speech to lip generation. ACM MM, 2020.",
            "[2] F. Author. High-resolution image synthesis with latent diffusion models. CVPR, 2022.",
        ],
    },
    {
        "id": "2405.90004",
        "version": 1,
        "date": "2024-05-22",
        "topic": "Diffusion Models",
        "title": "TerraDiff: Denoising Diffusion for Describing Land-Cover Changes in Bi-temporal Satellite Images",
        "authors": ["Ingrid Solberg", "Wei Chen", "Kofi Mensah"],
        "affiliation": "Institute for Earth Observation, Lakeshore University",
        "comment": "12 pages, 6 figures, 4 tables",
        "abstract": (
            "Describing what changed between two satellite images of the same place helps monitor cities, farms and "
            "forests. We treat change description as conditional text generation with a continuous diffusion model "
            "over word embeddings. TerraDiff encodes the before and after images with a shared Siamese backbone, "
            "and a difference-aware cross-attention module lets the denoiser focus on changed regions. We also "
            "release GeoShift-12K, a dataset of 12,400 image pairs with five change sentences each. TerraDiff "
            "reaches a CIDEr score of 138.6 on GeoShift-12K with 50 denoising steps."
        ),
        "sections": [
            ("1 Introduction", [
                "Change captioning must separate real changes, such as a new road or a cleared forest, from "
                "differences caused by season, lighting or registration errors between the two acquisitions.",
                "Autoregressive captioners commit to early words and cannot revise them. A diffusion model refines "
                "the whole sentence at once, which lets later evidence correct earlier words.",
            ]),
            ("2 Related Work", [
                "Encoder-decoder change captioners use transformers over the difference of image features. Diffusion "
                "language models denoise word embeddings in continuous space but were not applied to remote sensing.",
            ]),
            ("3 Method", [
                "Both images pass through a shared Siamese ResNet-50 backbone. The difference-aware cross-attention "
                "module weights each spatial feature by the magnitude of its before-after difference.",
                "The denoiser is a six-layer transformer over 64-dimensional word embeddings, trained with 1,000 "
                "diffusion steps and sampled with 50 steps. A rounding step maps the final embeddings to words.",
            ]),
            ("4 Experiments", [
                "GeoShift-12K contains 12,400 image pairs at 0.5 m resolution from 37 cities, split 10,000 / 1,200 / "
                "1,200. TerraDiff reaches a CIDEr score of 138.6 and a BLEU-4 of 0.642 on its test split.",
                "Without the difference-aware cross-attention CIDEr falls to 127.9. Pairs with seasonal differences "
                "only are described as unchanged in 91% of cases.",
            ]),
            ("5 Conclusion", [
                "Diffusion over word embeddings, guided by difference-aware attention, describes land-cover changes "
                "accurately and ignores most seasonal pseudo-changes.",
            ]),
        ],
        "references": [
            "[1] G. Author. Denoising diffusion probabilistic models. NeurIPS, 2020.",
            "[2] H. Author. Diffusion-LM improves controllable text generation. NeurIPS, 2022.",
        ],
    },
    {
        "id": "2405.90005",
        "version": 1,
        "date": "2024-05-21",
        "topic": "NeRF",
        "title": "TideNeRF: Neural Radiance Fields for Underwater Scenes with Wavelength-Dependent Attenuation",
        "authors": ["Marta Quintero", "Daniel Osei", "Yuki Tanabe"],
        "affiliation": "Coastal Robotics Laboratory, Harbourview University",
        "comment": "Code and the Reefscape-8 dataset: https://example.org/tidenerf",
        "abstract": (
            "Water absorbs red light faster than blue light, so underwater photos lose colour with distance and "
            "standard neural radiance fields bake this haze into the scene. TideNeRF models the water medium "
            "explicitly with three wavelength-dependent attenuation coefficients and a backscatter term, and "
            "renders the clean scene separately from the medium. On Reefscape-8, a new set of eight coral reef "
            "scenes captured by a diver-operated camera rig, TideNeRF reaches 29.1 dB PSNR and recovers true colours "
            "that match a colour chart within a CIEDE2000 error of 4.3."
        ),
        "sections": [
            ("1 Introduction", [
                "Neural radiance fields assume that light travels through empty space between surfaces. Underwater, "
                "the medium itself absorbs and scatters light, and the loss depends on wavelength.",
                "Marine biologists need true reef colours to assess coral bleaching, which hazy reconstructions hide.",
            ]),
            ("2 Related Work", [
                "Image-based underwater colour correction works one photo at a time and ignores geometry. Scattering "
                "media in radiance fields have been modelled for fog, with a single grey attenuation coefficient.",
            ]),
            ("3 Method", [
                "Along each ray, TideNeRF composites the scene radiance attenuated by exp(-beta_c z) for each colour "
                "channel c with a backscatter term that grows with distance z. The three coefficients beta_r, beta_g "
                "and beta_b are learned per scene.",
                "A depth prior from structure from motion stabilises the separation between scene and medium. "
                "Training takes 22 minutes per scene on one RTX 3090 GPU with a hash-grid encoding.",
            ]),
            ("4 Experiments", [
                "Reefscape-8 contains eight reef scenes with 120 to 260 images each, captured at depths from 4 to 18 "
                "metres. TideNeRF reaches 29.1 dB PSNR against 26.3 dB for a hash-grid NeRF without a medium model.",
                "Rendered without the medium, the restored colours match a submerged colour chart within a CIEDE2000 "
                "error of 4.3. The learned red attenuation is 3.2 times the blue attenuation on average.",
            ]),
            ("5 Conclusion", [
                "Modelling wavelength-dependent attenuation inside the radiance field separates water from scene and "
                "restores true underwater colours.",
            ]),
        ],
        "references": [
            "[1] I. Author. NeRF: representing scenes as neural radiance fields for view synthesis. ECCV, 2020.",
            "[2] J. Author. Instant neural graphics primitives with a multiresolution hash encoding. SIGGRAPH, 2022.",
        ],
    },
    {
        "id": "2405.90006",
        "version": 1,
        "date": "2024-05-21",
        "topic": "Diffusion Models",
        "title": "StrideDiff: Four-Step Text-to-Image Sampling by Trajectory Stitching Distillation",
        "authors": ["Noah Whitfield", "Chiara Bellini", "Arjun Mehta", "Sofia Lund"],
        "affiliation": "Polaris AI Research",
        "comment": "ICML 2024 workshop on efficient generative models",
        "abstract": (
            "Text-to-image diffusion models need many denoising steps, which makes them slow. StrideDiff distils a "
            "50-step teacher into a student that samples in four steps. Its trajectory stitching loss trains the "
            "student to jump between points of the teacher's sampling trajectory, and a guidance embedding folds "
            "classifier-free guidance into a single forward pass. With four steps StrideDiff reaches an FID of 9.8 "
            "on MS-COCO 30K, close to the teacher's 9.1 at 50 steps, and generates a 512 by 512 image in 0.21 "
            "seconds on an A100 GPU. Distillation costs 1,200 GPU-hours."
        ),
        "sections": [
            ("1 Introduction", [
                "Each denoising step of a large text-to-image model costs a full network evaluation, and "
                "classifier-free guidance doubles that cost. Fifty guided steps take several seconds per image.",
                "Step distillation shortens sampling, but halving the steps repeatedly accumulates error across "
                "rounds. StrideDiff distils in a single round.",
            ]),
            ("2 Related Work", [
                "Progressive distillation halves the number of steps in each round. Consistency models map any "
                "point of a trajectory to its end point. Fast ODE solvers need no training but degrade below ten steps.",
            ]),
            ("3 Method", [
                "The teacher's 50-step trajectory is cached for 2 million prompts from a licensed caption set. The "
                "trajectory stitching loss asks the student to map the state at step k to the teacher's state at "
                "step k plus 12 or 13, so that four student steps cover the whole trajectory.",
                "A guidance embedding, added to the timestep embedding, tells the student which guidance scale to "
                "imitate, so one forward pass replaces the two passes of classifier-free guidance.",
            ]),
            ("4 Experiments", [
                "On MS-COCO 30K StrideDiff reaches an FID of 9.8 with four steps and 12.6 with two steps; the teacher "
                "reaches 9.1 with 50 steps. The CLIP score is 0.317 against 0.321 for the teacher.",
                "A 512 by 512 image takes 0.21 seconds on an A100 GPU, 14 times faster than the guided teacher. "
                "Distillation runs for 1,200 GPU-hours, about a tenth of the teacher's training cost.",
            ]),
            ("5 Conclusion", [
                "Stitching the student's steps onto the teacher's trajectory and embedding the guidance scale make "
                "four-step sampling nearly as good as fifty guided steps.",
            ]),
        ],
        "references": [
            "[1] K. Author. Progressive distillation for fast sampling of diffusion models. ICLR, 2022.",
            "[2] L. Author. Consistency models. ICML, 2023.",
            "[3] M. Author. Classifier-free diffusion guidance. NeurIPS workshop, 2021.",
        ],
    },
]

QUESTIONS: list[dict] = [
    {"question": "Which model recognises actions from thin planes cut through a video clip instead of whole frames?",
     "id": "2405.90001"},
    {"question": "How much faster than a frame-based ViT is the slice model on Kinetics-400?", "id": "2405.90001"},
    {"question": "How can Gaussian splatting scenes be made small enough to render on a phone?", "id": "2405.90002"},
    {"question": "What size does the compressed splatting model reach on the Mip-NeRF 360 scenes?", "id": "2405.90002"},
    {"question": "Which method animates a single portrait photo from a speech recording using visemes?",
     "id": "2405.90003"},
    {"question": "What lip-sync score does the phoneme-conditioned talking face model get on HDTF?",
     "id": "2405.90003"},
    {"question": "Which paper generates sentences describing changes between two satellite images?",
     "id": "2405.90004"},
    {"question": "How many image pairs are in the new remote-sensing change description dataset?", "id": "2405.90004"},
    {"question": "How do radiance fields handle colour loss caused by water in reef photographs?", "id": "2405.90005"},
    {"question": "How long does training take per underwater scene, and on which GPU?", "id": "2405.90005"},
    {"question": "How can a text-to-image diffusion model sample with only four steps?", "id": "2405.90006"},
    {"question": "What FID does the distilled four-step student reach on MS-COCO?", "id": "2405.90006"},
    {"question": "Which protein structure prediction model uses a triangle attention module?", "expect": "none"},
    {"question": "How does the speech recognizer handle code-switching between Hindi and English?", "expect": "none"},
    {"question": "What reward function does the stock-trading reinforcement learning agent optimise?",
     "expect": "none"},
]
