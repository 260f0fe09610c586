"""The generator of the holdout evaluation set (``tests/data/eval/holdout``).

A second set in the dev set's format (``tests/data/eval/README.md``), made from PDF manuals of Debian packages that
the dev set does not use, so that a change to the marker that only helps on the dev set's 20 pages shows itself.

- ``pdf``: render a page with poppler (``pdftoppm``) and read its words and their boxes (``pdftotext -bbox-layout``);
- ``truth``: pure decisions: the ink box of each word, and the five keywords of a page by the README's roles;
- ``phone``: the phone-photo simulator (``hard``: the page fills the frame; ``small``: a whole page taken from
  further away, body text about ten pixels high), and the mapping of ink boxes onto the photo;
- ``build``: reads the manifest ``holdout.toml`` beside it and writes ``images/`` and ``cases.jsonl``.

Rebuild the committed set (needs poppler-utils; the same manifest on the same poppler, Pillow and numpy gives the
same bytes)::

    .venv/bin/python -m bench.evalset.build --out tests/data/eval/holdout
"""
