# Teacher-weighted percentages of students by a teacher variable on the synthetic TIMSS 2019
# grade 4 link data (tests/test_study_files.py; data made by make_timss2019_links.py).
# The merge is done here, independently of lsa: link file (AST) x teacher file (ATG) on
# IDCNTRY + IDTEACH + IDLINK; one row per link. ATBG04 code 9 (omitted) is missing.
# Design: weight MATWGT (mathematics teachers) or TCHWGT (all teachers); JK2 with both halves
# (TIMSS 2015+): for zone h, replicate 2h-1 multiplies the weight by 2*JKREP and replicate 2h by
# 2*(1-JKREP) in zone h (1 elsewhere); variance 0.5 * sum_r (theta_r - theta)^2.
# Run from tests/reference:  Rscript survey_timss2019_links.R
suppressPackageStartupMessages({library(survey); library(jsonlite)})
dir <- "data/timss2019_g4_links"
link <- read.csv(file.path(dir, "astusam7.csv"))
teach <- read.csv(file.path(dir, "atgusam7.csv"))
stopifnot(!anyDuplicated(teach[, c("IDCNTRY", "IDTEACH", "IDLINK")]))
link$row <- seq_len(nrow(link))
d <- merge(link, teach[, c("IDCNTRY", "IDTEACH", "IDLINK", "ATBG04")], by = c("IDCNTRY", "IDTEACH", "IDLINK"),
           all.x = TRUE, sort = FALSE)
d <- d[order(d$row), ]
stopifnot(nrow(d) == nrow(link))
d$ATBG04[d$ATBG04 == 9] <- NA
zones <- sort(unique(d$JKZONE))
rep <- matrix(1, nrow(d), 2 * length(zones))
for (i in seq_along(zones)) {
  inz <- d$JKZONE == zones[i]
  rep[inz, 2 * i - 1] <- 2 * d$JKREP[inz]
  rep[inz, 2 * i] <- 2 * (1 - d$JKREP[inz])
}
one <- function(w) {
  des <- svrepdesign(data = d, repweights = rep, weights = as.formula(paste0("~", w)), type = "other",
                     scale = 0.5, rscales = rep(1, ncol(rep)), combined.weights = FALSE, mse = TRUE)
  m <- svymean(~factor(ATBG04), des, na.rm = TRUE)
  list(weight = w, category = as.numeric(sub("factor\\(ATBG04\\)", "", names(coef(m)))),
       percent = unname(100 * coef(m)), se = unname(100 * SE(m)), n_rows = nrow(d))
}
out <- list(math = one("MATWGT"), all = one("TCHWGT"),
            software = paste(R.version.string, "survey", packageVersion("survey"), "jsonlite", packageVersion("jsonlite")))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "survey_timss2019_links.json")
