#!/usr/bin/env python3
"""Caption-retrieval accuracy of a bag-of-words model: how much of the stage-1 metric word
overlap alone gets on a caption-pair file (a reference point for `llm2clip eval cra`).

TF-IDF (scikit-learn, sublinear tf) fitted on the file's own short and long captions; cosine
similarity; top-1 short→long and long→short, as the project's CRA.

    source scripts/python-env.sh && python3 scripts/cra_tfidf.py s1-eval2/pairs.csv
"""
import csv
import sys

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer


def main(path):
    rows = list(csv.DictReader(open(path, newline="")))
    if len(rows) < 2:
        sys.exit(f"{path}: need at least 2 (short_caption, long_caption) rows, found {len(rows)}")
    short = [r["short_caption"] for r in rows]
    long = [r["long_caption"] for r in rows]
    truth = np.arange(len(rows))
    for name, ngrams in [("unigrams", (1, 1)), ("uni+bigrams", (1, 2)), ("bigrams", (2, 2))]:
        vec = TfidfVectorizer(ngram_range=ngrams, sublinear_tf=True).fit(short + long)
        sim = (vec.transform(short) @ vec.transform(long).T).toarray()
        s2l = 100 * (sim.argmax(1) == truth).mean()
        l2s = 100 * (sim.argmax(0) == truth).mean()
        print(f"{name:12s} short→long {s2l:5.1f}%  long→short {l2s:5.1f}%  ({len(rows)} pairs)")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: cra_tfidf.py PAIRS.csv")
    main(sys.argv[1])
