# Reference for tests/test_categorical_models.py (issue 13 item 5): multinomial logit, ordinal
# logit/probit and quantile regression over plausible values and replicates.
# Run from tests/reference:  Rscript categorical_models_piaac.R -> categorical_models_piaac.json
#
# Data and design as glm_piaac.R: the bundled PIAAC 2012 Flanders extract, JK2 80 replicates
# (svrepdesign type "other", scale 1, rscales 1, mse TRUE), rows with PVs. EDCAT6 in its natural
# order (lower secondary < upper secondary < post-secondary < tertiary professional < bachelor <
# master), GENDER_R with Female the reference. For each PV m (PVLIT1..10) one
# survey::withReplicates fit per weight column, combined by mitools::MIcombine:
# - nnet::multinom(EDCAT6 ~ I(PVLIT_m / 100) + GENDER_R) (case weights), reltol 1e-16;
# - MASS::polr(EDCAT6 ~ I(PVLIT_m / 100) + GENDER_R, method = "logistic" / "probit"), reltol 1e-16
#   (coefficients then the cut points zeta: logit P(Y <= k) = zeta_k - eta);
# - quantreg::rq(PVLIT_m ~ AGE_R + GENDER_R, tau = c(0.25, 0.5, 0.9), weights = w, method = "br").
suppressPackageStartupMessages({library(survey); library(mitools); library(jsonlite); library(nnet)
  library(MASS); library(quantreg)})

d <- read.csv(gzfile("../../lsa/datasets/data/piaac2012_bel_flanders.csv.gz"), stringsAsFactors = FALSE,
              encoding = "UTF-8")
keys <- c("Lower", "Upper", "Post", "professional", "bachelor", "master")
code <- rep(NA_integer_, nrow(d))
for (k in 1:6) code[grepl(keys[k], d$EDCAT6, fixed = TRUE)] <- k        # "" (missing) stays NA
d$code <- code
d <- d[!is.na(d$PVLIT1) & !is.na(d$code), ]
d$EDCAT6 <- factor(d$code, levels = 1:6, ordered = FALSE)
d$EDORD <- factor(d$code, levels = 1:6, ordered = TRUE)
d$GENDER_R <- factor(d$GENDER_R, levels = c("Female", "Male"))
for (m in 1:10) d[[paste0("LIT", m)]] <- d[[paste0("PVLIT", m)]] / 100
des <- svrepdesign(data = d, weights = ~SPFWT0, repweights = "SPFWT[1-9][0-9]?$", type = "other",
                   scale = 1, rscales = 1, mse = TRUE, combined.weights = TRUE)
stopifnot(ncol(des$repweights) == 80)
pool <- function(stat) {
  fits <- lapply(1:10, function(m) withReplicates(des, function(w, data) stat(w, data, m)))
  r <- MIcombine(lapply(fits, coef), lapply(fits, vcov))
  list(estimate = unname(coef(r)), std_error = unname(sqrt(diag(vcov(r)))),
       per_pv = unname(sapply(fits, coef)), se_per_pv = unname(sapply(fits, function(f) sqrt(diag(vcov(f))))))
}
mn <- function(w, data, m) {
  f <- multinom(as.formula(sprintf("EDCAT6 ~ LIT%d + GENDER_R", m)), data, weights = w, trace = FALSE,
                reltol = 1e-16, maxit = 5000)
  as.vector(t(coef(f)))                                     # level 2: terms, level 3: terms, ...
}
ord <- function(link) function(w, data, m) {
  # polr's own start (a binomial glm) fails here: the full-sample fit starts at 0 and the cut
  # points of the weighted margins, each replicate at its PV's full-sample estimate (the optimum
  # does not depend on the start)
  fo <- as.formula(sprintf("EDORD ~ LIT%d + GENDER_R", m))
  share <- cumsum(tapply(d$SPFWT0, d$EDORD, sum))[1:5] / sum(d$SPFWT0)  # the margins' cut points
  cuts <- if (link == "logistic") qlogis(share) else qnorm(share)
  start <- polr(fo, d, weights = SPFWT0, method = link, start = c(0, 0, cuts),
                control = list(reltol = 1e-16, maxit = 5000))
  f <- polr(fo, data, weights = w, method = link, start = c(coef(start), start$zeta),
            control = list(reltol = 1e-16, maxit = 5000))
  c(coef(f), f$zeta)
}
qr <- function(w, data, m) {
  f <- rq(as.formula(sprintf("PVLIT%d ~ AGE_R + GENDER_R", m)), tau = c(0.25, 0.5, 0.9), data = data,
          weights = w, method = "br")
  as.vector(coef(f))                                        # tau 0.25: terms, 0.5: terms, 0.9: terms
}
out <- list(multinom = pool(mn), polr_logistic = pool(ord("logistic")), polr_probit = pool(ord("probit")),
            rq = pool(qr))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "categorical_models_piaac.json")
