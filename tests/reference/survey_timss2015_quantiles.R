# Woodruff quantiles under Taylor linearisation (lsa issue 13 items 1 and 6), computed with R's
# survey package on the TIMSS 2015 USA grade-8 extract (no replicate weights).
# Run from tests/reference:  Rscript survey_timss2015_quantiles.R
# Data: ../../lsa/datasets/data/timss2015_usa_g8.csv.gz (bundled extract; provenance in
# lsa/datasets/data/README.md). Design as survey_timss2015_taylor.R: svydesign(ids = ~IDSCHOOL,
# weights = ~TOTWGT); PSTRAT4 = pseudo strata of 4 schools in IDSCHOOL order (NOT TIMSS's).
# svyquantile(qrule = "math", interval.type = "mean") = Woodruff: the CI of svymean(x <= q) with
# df = degf(design) mapped back through the quantile rule; SE = (upper - lower) / (2 qt(0.975, df)).
# PVs: per-PV estimates and SE^2 pooled by Rubin's rules (mitools::MIcombine).
suppressMessages({library(survey); library(mitools); library(jsonlite)})
d <- read.csv(gzfile("../../lsa/datasets/data/timss2015_usa_g8.csv.gz"))
sch <- sort(unique(d$IDSCHOOL))
d$PSTRAT4 <- (match(d$IDSCHOOL, sch) - 1) %/% 4 + 1
pvs <- sprintf("BSMMAT%02d", 1:5)
probs <- c(0.1, 0.5, 0.9)
options(survey.lonely.psu = "fail")
one <- function(des, v) {
  q <- svyquantile(as.formula(paste0("~", v)), des, probs, ci = TRUE, interval.type = "mean", qrule = "math",
                   na.rm = TRUE)[[1]]
  list(coef = unname(q[, 1]), lower = unname(q[, 2]), upper = unname(q[, 3]), se = unname(q[, 4]), df = degf(des))
}
pooled <- function(fits) {
  p <- MIcombine(lapply(fits, `[[`, "coef"), lapply(fits, function(f) diag(f$se^2, length(f$se))))
  list(coef = unname(coef(p)), se = unname(sqrt(diag(vcov(p)))), df = unname(p$df))
}
out <- list()
des <- svydesign(ids = ~IDSCHOOL, weights = ~TOTWGT, data = d)
fits <- lapply(pvs, function(v) one(des, v))
out$per_pv <- fits
out$pooled <- pooled(fits)
out$by_sex <- lapply(1:2, function(s) one(subset(des, ITSEX == s), "BSMMAT01"))
out$strat4 <- one(svydesign(ids = ~IDSCHOOL, strata = ~PSTRAT4, weights = ~TOTWGT, data = d), "BSMMAT01")
out$versions <- list(R = R.version.string, survey = as.character(packageVersion("survey")),
                     mitools = as.character(packageVersion("mitools")))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "survey_timss2015_quantiles.json")
