"""Write the synthetic TIMSS 2019 grade 4 country files of tests/test_study_files.py as CSV.

One country (IDCNTRY 840, files ``*usam7``) in the official layout of the TIMSS 2019 grade 4
International Database: student (ASG), school (ACG), home (ASH), student-teacher link (AST) and
teacher (ATG) files, with the official id, weight and jackknife variable names. The numbers are
made up (numpy seed 20190). The link weights follow the IEA rule: on each of a student's k
mathematics-teacher links MATWGT = TOTWGT / k (0 on science links), SCIWGT likewise for science,
TCHWGT = TOTWGT / (number of the student's teachers). Two classes have two mathematics teachers,
and in one class the mathematics teacher also teaches science (two links, IDLINK 1 and 2).
Missing codes: ATBG04 9 = omitted, ASBG01 9 = omitted, ASBH02 99 = omitted, ACBG05 99 = omitted
(kept as codes in the CSV; the test writes them as SPSS user-missing values).

Run from tests/reference:  python make_timss2019_links.py   (writes data/timss2019_g4_links/*.csv)
"""

from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parent / "data" / "timss2019_g4_links"
CNT = 840


def make() -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(20190)
    schools, students, links, teachers = [], [], [], []
    tid = 0
    for s in range(1, 13):
        zone, half = (s + 1) // 2, s % 2                      # two schools per jackknife zone
        schools.append(dict(IDCNTRY=CNT, IDSCHOOL=s, SCHWGT=round(rng.uniform(5, 40), 4),
                            ACBG05=int(rng.choice([1, 2, 3, 99], p=[0.3, 0.3, 0.3, 0.1])), JKCZONE=zone, JKCREP=half))
        for c in range(1, 1 + (2 if s % 3 == 0 else 1)):
            idclass = s * 100 + c
            n_math = 2 if idclass in (301, 901) else 1
            same = idclass == 501                             # maths teacher also teaches science
            math_t = []
            for _ in range(n_math):
                tid += 1
                math_t.append(tid)
            sci_t = math_t[0] if same else tid + 1
            tid = max(tid, sci_t)
            for t, link in [(t, 1) for t in math_t] + [(sci_t, 2)]:
                teachers.append(dict(IDCNTRY=CNT, IDSCHOOL=s, IDTEACH=s * 100 + t, IDLINK=link,
                                     IDTEALIN=(s * 100 + t) * 100 + link,
                                     ATBG01=int(rng.integers(1, 40)),
                                     ATBG04=int(rng.choice([1, 2, 3, 4, 9], p=[0.15, 0.3, 0.3, 0.15, 0.1]))))
            n_stu = int(rng.integers(6, 11))
            for k in range(1, n_stu + 1):
                idstud = idclass * 100 + k
                w = round(float(rng.uniform(10, 60)), 5)
                row = dict(IDCNTRY=CNT, IDSCHOOL=s, IDCLASS=idclass, IDSTUD=idstud, TOTWGT=w, HOUWGT=round(w / 20, 5),
                           JKZONE=zone, JKREP=half, ASBG01=int(rng.choice([1, 2, 9], p=[0.48, 0.48, 0.04])))
                mu = rng.normal(510, 60)
                for m in range(1, 6):
                    row[f"ASMMAT0{m}"] = round(float(mu + rng.normal(0, 25)), 4)
                students.append(row)
                nt = n_math + 1
                for t, link in [(t, 1) for t in math_t] + [(sci_t, 2)]:
                    links.append(dict(IDCNTRY=CNT, IDSCHOOL=s, IDCLASS=idclass, IDSTUD=idstud,
                                      IDTEACH=s * 100 + t, IDLINK=link, IDTEALIN=(s * 100 + t) * 100 + link,
                                      NMTEACH=n_math, NSTEACH=1, NTEACH=nt,
                                      MATWGT=w / n_math if link == 1 else 0.0, SCIWGT=w if link == 2 else 0.0,
                                      TCHWGT=w / nt, JKZONE=zone, JKREP=half))
    schools[3]["ACBG05"] = 99                                  # one principal omitted the question
    stu = pd.DataFrame(students)
    home = stu[["IDCNTRY", "IDSCHOOL", "IDCLASS", "IDSTUD"]].copy()
    home["ASBH02"] = rng.choice([1, 2, 3, 4, 99], size=len(home), p=[0.2, 0.3, 0.3, 0.1, 0.1])
    home = home.drop(index=home.index[::9]).reset_index(drop=True)   # some parents did not answer
    return dict(asgusam7=stu, acgusam7=pd.DataFrame(schools), ashusam7=home, astusam7=pd.DataFrame(links),
                atgusam7=pd.DataFrame(teachers))


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    for name, frame in make().items():
        frame.to_csv(OUT / f"{name}.csv", index=False, float_format="%.10g", lineterminator="\n")
