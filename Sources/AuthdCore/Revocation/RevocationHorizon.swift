extension TokenConfiguration {
    /// How long a subject revocation with this cutoff must be remembered: until every access token
    /// and every refresh token minted at or before the cutoff is dead anyway. Refresh tokens
    /// outlive access tokens, and a refresh family created before the cutoff is refused only while
    /// the subject's watermark is still known, so the watermark lasts as long as the longer of them.
    public func subjectRevocationExpiry(cutoff: Int64, now: Int64) -> Int64 {
        max(cutoff, now) + max(maximumTTL + leeway, refreshTTL)
    }
}
