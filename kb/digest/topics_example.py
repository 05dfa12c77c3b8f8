"""The commented topics.toml that `kb topics --init` writes: the five topics of the daily pages kb was built to
replace, each with keywords for the digest and an arXiv subscription for `kb fetch`."""
from __future__ import annotations

EXAMPLE_TOPICS = '''\
# kb topics: one [[topic]] table per topic. Edit freely; `kb topics` shows what kb reads.
#
#   name          the topic's name (digest pages listing a paper under this name keep it here)
#   description   one line; helps place papers that match no keyword
#   keywords      words or phrases; a paper whose title or abstract contains one joins the topic
#
# What `kb fetch` / `kb daily` ask arXiv for (all optional):
#   query         the arXiv API search syntax: ti: (title), abs: (abstract), au: (author), cat: (category),
#                 all:, "quoted phrases", AND / OR / ANDNOT, parentheses.
#                 The topic keeps the day's listed papers that the query matches.
#   categories    arXiv categories whose daily listing is read (cs.CV, cs.GR, cs.LG, ...); without a query
#                 the topic keeps every listed paper of these categories.
#   cross_lists   also keep papers cross-listed into these categories (default true)
#   replacements  also keep new versions of older papers (default false)
#   pdf           download the PDFs and index their full text (default false; abstracts only otherwise)

[[topic]]
name = "3DGS"
description = "3D Gaussian Splatting: scene representation, rendering and reconstruction with Gaussians"
keywords = ["gaussian splatting", "3DGS", "3D gaussians"]
query = 'ti:"gaussian splatting" OR abs:"gaussian splatting" OR abs:3DGS'
categories = ["cs.CV", "cs.GR"]
cross_lists = true
replacements = false

[[topic]]
name = "Diffusion Models"
description = "Generative diffusion and score-based models for images, video, 3D and audio"
keywords = ["diffusion model", "denoising diffusion", "score-based", "latent diffusion"]
query = 'ti:diffusion OR abs:"diffusion model" OR abs:"denoising diffusion" OR abs:"score-based"'
categories = ["cs.CV", "cs.LG", "cs.GR"]
cross_lists = true
replacements = false

[[topic]]
name = "NeRF"
description = "Neural radiance fields and neural implicit scene representations"
keywords = ["neural radiance field", "NeRF", "radiance fields"]
query = 'ti:NeRF OR abs:"neural radiance field" OR abs:"neural radiance fields" OR abs:NeRF'
categories = ["cs.CV", "cs.GR"]
cross_lists = true
replacements = false

[[topic]]
name = "Talking Head Generation"
description = "Audio- or text-driven talking faces, portrait animation and lip sync"
keywords = ["talking head", "talking face", "lip sync", "portrait animation"]
query = 'abs:"talking head" OR abs:"talking face" OR abs:"lip sync" OR abs:"portrait animation"'
categories = ["cs.CV", "cs.GR", "cs.SD", "eess.AS"]
cross_lists = true
replacements = false

[[topic]]
name = "元宇宙_虚拟人"
description = "Metaverse and virtual humans: digital avatars, human body and motion generation"
keywords = ["avatar", "digital human", "virtual human", "metaverse", "human motion"]
query = 'abs:avatar OR abs:"digital human" OR abs:"virtual human" OR abs:metaverse OR abs:"human motion generation"'
categories = ["cs.CV", "cs.GR", "cs.HC"]
cross_lists = true
replacements = false
'''
