# References for lsa.robust (weighted robust_mixed, diagnostics). R 4.2.2, clubSandwich, nlme.
# Run from tests/reference:  Rscript robust_mixed_weighted.R  -> robust_mixed_weighted.json
#
# 1. Weighted CR2 algebra. clubSandwich refuses lmer fits with prior weights, but supports nlme::lme
#    with a variance function. lme(..., weights = varFixed(~ 1/pwt1)) has residual variance
#    sigma^2 / pwt1, i.e. the level-1 part of the pseudo-likelihood's weighted marginal model
#    Vw_j = sigma^2 W1_j^{-1} + tau J (top-level weights 1). Given lme's (tau, sigma):
#    * default vcovCR (inverse_var = TRUE, W = Theta = Vw^{-1})      -> robust_mixed target="weighted"
#    * target = unweighted V_j = sigma^2 I + tau J, inverse_var = FALSE (W = Vw^{-1}, Theta = V)
#                                                                     -> robust_mixed target="model"
# 2. Data for the Htest man-page examples (spec R-10.1), which use R's RNG.
suppressPackageStartupMessages({library(nlme); library(clubSandwich); library(jsonlite)})
meta <- fromJSON("data/pisa2012.meta.json")
p <- read.csv("data/pisa2012.csv", colClasses = c(schoolid = "character"))
for (f in names(meta$factor_levels)) p[[f]] <- factor(p[[f]], levels = meta$factor_levels[[f]])
p <- p[complete.cases(p[, c("pv1math", "escs", "st04q01", "pwt1", "schoolid")]), ]
# clubSandwich's build_var_cor_mats uses tapply(., diag): a school with ONE student gives a 0 x 0
# matrix (diag(scalar) is an identity of that size) and vcovCR fails. Drop single-student schools.
ns <- table(p$schoolid); dropped <- names(ns)[ns < 2]
p <- p[!(p$schoolid %in% dropped), ]
p <- p[order(p$schoolid), ]
p$inv_w <- 1 / p$pwt1
m <- lme(pv1math ~ escs + st04q01, random = ~ 1 | schoolid, data = p, method = "ML",
         weights = varFixed(~ inv_w), control = lmeControl(msMaxIter = 500, tolerance = 1e-12))
tau <- as.numeric(getVarCov(m)[1, 1]); sig <- m$sigma
cl <- factor(p$schoolid)
Vlist <- lapply(split(seq_len(nrow(p)), cl), function(i) sig^2 * diag(length(i)) + tau)
one <- function(vc) {
  ct <- coef_test(m, vcov = vc, test = "Satterthwaite")
  list(term = rownames(ct), estimate = unname(fixef(m)), se = ct$SE, df = ct$df_Satt,
       vcov = unname(as.matrix(vc)))
}
out <- list(
  generated = format(Sys.time(), tz = "UTC", usetz = TRUE),
  packages = list(R = as.character(getRversion()), nlme = as.character(packageVersion("nlme")),
                  clubSandwich = as.character(packageVersion("clubSandwich"))),
  pisa_varfixed = list(
    formula = "pv1math ~ escs + st04q01, random = ~1|schoolid, weights = varFixed(~1/pwt1), ML",
    n = nrow(p), dropped_schools = dropped, tau = tau, sigma = sig, se_model = unname(sqrt(diag(vcov(m)))),
    cr2_weighted = one(vcovCR(m, cluster = cl, type = "CR2")),
    cr0_weighted = one(vcovCR(m, cluster = cl, type = "CR0")),
    cr2_model = one(vcovCR(m, cluster = cl, type = "CR2", target = Vlist, inverse_var = FALSE))
  )
)
set.seed(123); x1 <- rnorm(400); y <- x1 * .3 + rnorm(400); gr <- rep(1:20, each = 20)
y2 <- x1 * .3 + rnorm(400, 0, sqrt(x1^2))
out$htest_data <- list(x1 = x1, y = y, y2 = y2, gr = gr,
                       printed = list(H1 = 13.86812248, p1 = 0.7913240518, H2 = 38.39527888,
                                      p2 = 0.005283822493, df = 19))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "robust_mixed_weighted.json")
