# Taylor linearisation and jackknife replicates built from a design (lsa issue 13 items 1-2),
# computed with R's survey package on the TIMSS 2015 USA grade-8 extract (no replicate weights).
# Run from tests/reference:  Rscript survey_timss2015_taylor.R
# Data: ../../lsa/datasets/data/timss2015_usa_g8.csv.gz (bundled extract; provenance in
# lsa/datasets/data/README.md). Pseudo strata (NOT TIMSS's): schools sorted by IDSCHOOL and
# grouped in order, k per stratum: PSTRAT4 (k = 4: 61 strata of 4 and one of 2) and PSTRAT5
# (k = 5: 49 strata of 5 and one lonely school). FPC5 = 20 schools in every PSTRAT5 stratum.
suppressMessages({library(survey); library(mitools); library(jsonlite)})
d <- read.csv(gzfile("../../lsa/datasets/data/timss2015_usa_g8.csv.gz"))
sch <- sort(unique(d$IDSCHOOL))
rank0 <- match(d$IDSCHOOL, sch) - 1
d$PSTRAT4 <- rank0 %/% 4 + 1
d$PSTRAT5 <- rank0 %/% 5 + 1
d$FPC5 <- 20
d$BOY <- as.numeric(d$ITSEX == 2)
pvs <- sprintf("BSMMAT%02d", 1:5)
for (m in 1:5) d[[paste0("LOW", m)]] <- as.numeric(d[[pvs[m]]] < 475)
ser <- function(x) list(coef = unname(coef(x)), names = names(coef(x)), vcov = unname(as.matrix(vcov(x))))
pooled <- function(fits) { p <- MIcombine(fits); list(coef = unname(coef(p)), se = unname(sqrt(diag(vcov(p)))), df = unname(p$df)) }
per_pv <- function(des, f) { fits <- lapply(1:5, function(m) f(des, m)); list(per_pv = lapply(fits, ser), pooled = pooled(fits)) }
mean_pv <- function(des, m) svymean(as.formula(paste0("~", pvs[m])), des)
lm_pv <- function(des, m) svyglm(as.formula(paste0(pvs[m], " ~ BOY + BSBGHER")), des)
logit_pv <- function(des, m) svyglm(as.formula(paste0("LOW", m, " ~ BOY + BSBGHER")), des, family = quasibinomial())
out <- list()
options(survey.lonely.psu = "fail")
des <- svydesign(ids = ~IDSCHOOL, weights = ~TOTWGT, data = d)
out$degf <- degf(des)
out$mean <- per_pv(des, mean_pv)
out$percent_books <- ser(svymean(~factor(Books), des, na.rm = TRUE))
out$mean_by_sex <- lapply(1:2, function(s) ser(svymean(~BSMMAT01, subset(des, ITSEX == s))))
out$gap_sex <- {b <- svyby(~BSMMAT01, ~ITSEX, des, svymean, covmat = TRUE); ser(svycontrast(b, c(-1, 1)))}
out$sd <- {v <- svyvar(~BSMMAT01, des); list(var = unname(coef(v)), var_se = unname(SE(v)))}
out$lm <- per_pv(des, lm_pv)
out$lm_df <- unname(lm_pv(des, 1)$df.residual)
out$logit <- per_pv(des, logit_pv)
out$logit_sex <- lapply(1:2, function(s) ser(svyglm(LOW1 ~ BSBGHER, subset(des, ITSEX == s), family = quasibinomial())))
out$strat4 <- {ds <- svydesign(ids = ~IDSCHOOL, strata = ~PSTRAT4, weights = ~TOTWGT, data = d)
  list(degf = degf(ds), mean = ser(mean_pv(ds, 1)), lm = ser(lm_pv(ds, 1)))}
out$lonely <- list()
for (rule in c("remove", "adjust", "certainty", "average")) {
  options(survey.lonely.psu = rule)
  ds <- svydesign(ids = ~IDSCHOOL, strata = ~PSTRAT5, weights = ~TOTWGT, data = d)
  df <- svydesign(ids = ~IDSCHOOL, strata = ~PSTRAT5, weights = ~TOTWGT, fpc = ~FPC5, data = d)
  out$lonely[[rule]] <- list(mean = ser(mean_pv(ds, 1)), lm = ser(lm_pv(ds, 1)), mean_fpc = ser(mean_pv(df, 1)),
                             logit = ser(logit_pv(ds, 1)))
}
options(survey.lonely.psu = "fail")
out$fail <- tryCatch({svymean(~BSMMAT01, svydesign(ids = ~IDSCHOOL, strata = ~PSTRAT5, weights = ~TOTWGT, data = d)); "no error"},
                     error = function(e) conditionMessage(e))
# jackknife replicates built from the design, centred on the full-sample estimate (mse = TRUE, as lsa)
jk1 <- as.svrepdesign(des, type = "JK1", mse = TRUE)
jkn <- as.svrepdesign(svydesign(ids = ~IDSCHOOL, strata = ~PSTRAT4, weights = ~TOTWGT, data = d), type = "JKn", mse = TRUE)
rep_fit <- function(r) list(n_rep = ncol(r$repweights$weights), scale = r$scale, rscales = unique(r$rscales),
                            mean = per_pv(r, mean_pv), lm = per_pv(r, lm_pv), logit = ser(logit_pv(r, 1)))
out$jk1 <- rep_fit(jk1)
out$jkn <- rep_fit(jkn)
out$versions <- list(R = R.version.string, survey = as.character(packageVersion("survey")),
                     mitools = as.character(packageVersion("mitools")))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "survey_timss2015_taylor.json")
