"""The stylesheet inlined into ``report.html`` (no file is fetched at view time).

Kept apart from :mod:`chaoskit.report.html` so the page's structure reads
without scrolling past styling. System fonts only, and print-friendly: a report
is often attached to a ticket as a PDF.
"""

from __future__ import annotations

__all__ = ["CSS"]

CSS = """
:root{--ink:#1f2328;--muted:#59636e;--line:#d1d9e0;--pass:#2b8a3e;--fail:#c92a2a;
--abort:#e8590c;--unsure:#9c36b5;--bg:#f6f8fa}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:var(--ink);background:#fff}
main{max-width:1180px;margin:0 auto;padding:20px 24px 8px}
header{display:flex;gap:20px;align-items:center;padding:16px 20px;border-radius:8px;
background:var(--bg);border-left:10px solid var(--muted)}
header.passed{border-color:var(--pass)}header.failed{border-color:var(--fail)}
header.aborted{border-color:var(--abort)}
header.inconclusive{border-color:var(--unsure)}
.verdict{font-size:28px;font-weight:800;letter-spacing:.04em;min-width:140px}
header.passed .verdict{color:var(--pass)}header.failed .verdict{color:var(--fail)}
header.aborted .verdict{color:var(--abort)}
header.inconclusive .verdict{color:var(--unsure)}
h1{margin:0;font-size:22px}h2{margin:28px 0 10px;font-size:18px;
border-bottom:1px solid var(--line);padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
.title{margin:2px 0;font-size:15px}.facts{margin:4px 0 0;color:var(--muted)}
.reason{margin:12px 0 0;padding:8px 12px;border-radius:6px;background:#fff4e6;
color:#8a3c00;font-weight:600}
.partial{margin:8px 0 0;padding:8px 12px;border-radius:6px;background:#fff9db}
.label{margin:14px 0 4px;color:var(--muted);font-size:12px;text-transform:uppercase;
letter-spacing:.06em}
pre{margin:0;padding:10px 12px;background:var(--bg);border:1px solid var(--line);
border-radius:6px;overflow-x:auto;white-space:pre-wrap;word-break:break-word}
pre.command{font-size:13px}pre.plan{font-size:12px}
code{font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
table{border-collapse:collapse;width:100%;margin:6px 0}
th,td{text-align:left;vertical-align:top;padding:6px 10px;
border-bottom:1px solid var(--line)}
th{background:var(--bg);font-weight:600;font-size:13px}
table.numbers td:not(:first-child),table.numbers th:not(:first-child){text-align:right;
font-variant-numeric:tabular-nums}
table.numbers tr:last-child td{font-weight:600;border-top:2px solid var(--line)}
table.kv thead{display:none}table.kv td:first-child{width:200px;color:var(--muted)}
.detail{color:var(--muted);font-size:12.5px;margin-top:2px}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-weight:700;
font-size:12px;color:#fff;background:var(--muted)}
.badge.pass{background:var(--pass)}.badge.fail{background:var(--fail)}
.badge.inconclusive{background:var(--unsure)}
ul.samples{margin:0;padding-left:16px}ul.samples li{margin:2px 0}
figure{margin:10px 0 18px;padding:6px;border:1px solid var(--line);border-radius:8px}
svg.chart{display:block;width:100%;height:auto}
.note{color:var(--muted);margin:4px 0}
footer{max-width:1180px;margin:0 auto;padding:12px 24px 24px;color:var(--muted);
font-size:12px}
a{color:#0969da}
@media print{figure{break-inside:avoid}header{break-after:avoid}}
"""
