# Reference for tests/test_glm_models.py (issue 13 item 5): probit and Poisson regression over
# plausible values and replicates. Run from tests/reference:  Rscript glm_piaac.R -> glm_piaac.json
#
# Data and design as regression_extras_piaac.R: the bundled PIAAC 2012 Flanders extract, JK2 80
# replicates (svrepdesign type "other", scale 1, rscales 1, mse TRUE), rows with PVs.
# Outcome I(PVLIT_m < 250) for each PV m; predictors AGE_R + GENDER_R (Female the reference).
# survey::svyglm with family quasibinomial(link = "probit") and quasipoisson (log link, a 0/1
# outcome: log risk ratios), one fit per PV, combined by mitools::MIcombine.
suppressPackageStartupMessages({library(survey); library(mitools); library(jsonlite)})

d <- read.csv(gzfile("../../lsa/datasets/data/piaac2012_bel_flanders.csv.gz"), stringsAsFactors = FALSE)
d <- d[!is.na(d$PVLIT1), ]
d$GENDER_R <- factor(d$GENDER_R, levels = c("Female", "Male"))
for (m in 1:10) d[[paste0("LOW", m)]] <- as.numeric(d[[paste0("PVLIT", m)]] < 250)
des <- svrepdesign(data = d, weights = ~SPFWT0, repweights = "SPFWT[1-9][0-9]?$", type = "other",
                   scale = 1, rscales = 1, mse = TRUE, combined.weights = TRUE)
stopifnot(ncol(des$repweights) == 80)
fit <- function(family) {
  fits <- lapply(1:10, function(m) svyglm(as.formula(sprintf("LOW%d ~ AGE_R + GENDER_R", m)), des,
                                          family = family, control = glm.control(epsilon = 1e-12, maxit = 100)))
  r <- MIcombine(lapply(fits, coef), lapply(fits, vcov))
  list(terms = names(coef(r)), estimate = unname(coef(r)), std_error = unname(sqrt(diag(vcov(r)))),
       per_pv = unname(sapply(fits, coef)))
}
out <- list(probit = fit(quasibinomial(link = "probit")), poisson = fit(quasipoisson()))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "glm_piaac.json")
