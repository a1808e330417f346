import Foundation
import Scenes
import TensorKit
import Testing
import Tokenizers

@Suite struct CaptionTests {
    /// The design targets, measured with the real CLIP tokenizer on 300 default samples.
    @Test func statisticsMeetTheDesign() throws {
        let clip = try CLIPVocab.tokenizer.get()
        let texts = SceneDataset.generateText(count: 300, seed: 1)
        let s = CaptionStatistics(texts) { clip.encode($0).count }
        #expect(s.denseTokens.median >= 100, "dense median \(s.denseTokens.median) tokens")
        #expect(s.denseOver77Fraction >= 0.4, "only \(s.denseOver77Fraction) of dense captions exceed 77 tokens")
        #expect(s.denseTruncatedFraction >= s.denseOver77Fraction)
        #expect(s.denseTokens.max <= 260)
        #expect(s.shortWords.min >= 8 && s.shortWords.max <= 25, "short captions \(s.shortWords.min)…\(s.shortWords.max) words")
        #expect(s.shortTokens.max + 2 <= 77, "a short caption should fit CLIP's context")
        #expect(texts.allSatisfy { $0.shortCaptions.count == 5 && Set($0.shortCaptions).count == 5 })
        // Held-out wording keeps the lengths in the same range.
        let eval = SceneDataset.generateText(count: 100, seed: 1, split: .eval, heldOutWording: true)
        let e = CaptionStatistics(eval) { clip.encode($0).count }
        #expect(e.denseTokens.median >= 100)
        #expect(e.shortWords.min >= 8 && e.shortWords.max <= 25)
    }

    @Test func heldOutWordingNeverInTrainingCaptions() {
        let terms = WordingTable.heldOutTerms
        #expect(terms.count > 100)
        let train = SceneDataset.generateText(count: 400, seed: 3)
        let trainText = train.map { ($0.shortCaptions + [$0.denseCaption]).joined(separator: " ") }
        for term in terms {
            let hits = trainText.filter { containsPhrase($0, term) }
            #expect(hits.isEmpty, "held-out '\(term)' appears in a training caption: \(hits.first ?? "")")
        }
        // Held-out terms must not double as training words either.
        let trainTerms = Set(WordingTable.trainTerms.map { $0.lowercased() })
        #expect(terms.filter { trainTerms.contains($0.lowercased()) }.isEmpty)
    }

    @Test func heldOutWordingAppearsInEvalCaptions() {
        let terms = WordingTable.heldOutTerms
        let eval = SceneDataset.generateText(count: 200, seed: 3, split: .eval, heldOutWording: true)
        var used = Set<String>()
        for t in eval {
            let all = t.shortCaptions + [t.denseCaption]
            for caption in all {
                let found = terms.filter { containsPhrase(caption, $0) }
                #expect(!found.isEmpty, "\(t.key): no held-out wording in '\(caption)'")
                used.formUnion(found)
            }
            // Colours and shapes are always named with held-out words in the dense caption.
            for o in t.description.objects {
                let colorWords = WordingTable.entry(.color, o.color.name)!
                let shapeWords = WordingTable.entry(.shape, o.shape.name)!
                #expect(colorWords.heldOut.contains { containsPhrase(t.denseCaption, $0) })
                #expect(shapeWords.heldOut.contains { containsPhrase(t.denseCaption, $0) })
                #expect(!colorWords.train.contains { containsPhrase(t.denseCaption, $0) }
                        || o.color == .black || o.color == .white,   // "jet-black", "snow-white" contain the train word with a hyphen
                        "\(t.key): training colour word for \(o.color) in '\(t.denseCaption)'")
                #expect(!shapeWords.train.contains { containsPhrase(t.denseCaption, $0) })
            }
        }
        // Most of the table is exercised.
        #expect(Double(used.count) / Double(terms.count) > 0.8, "only \(used.count) of \(terms.count) held-out terms used")
    }

    @Test func denseCaptionDescribesEveryObjectAndTheBackground() {
        for t in SceneDataset.generateText(count: 100, seed: 4) {
            let d = t.denseCaption
            for o in t.description.objects {
                #expect(d.contains("\(o.color.name) \(o.shape.name)") || d.contains("gray \(o.shape.name)"), "\(t.key): \(o.color) \(o.shape) missing")
            }
            #expect(containsPhrase(d, "background"))
            #expect(d.hasSuffix("."))
            let tone = t.description.background.tones[0].name
            #expect(d.contains(tone) || d.contains(tone.replacingOccurrences(of: "pale", with: "light"))
                    || d.contains(tone.replacingOccurrences(of: "light", with: "pale")))
            if t.description.objects.count >= 2 {
                let relations = ["to the left of", "to the right of", "above", "below", "higher than", "lower than"]
                #expect(relations.contains { d.contains($0) }, "\(t.key): no relation in '\(d)'")
            }
        }
    }

    @Test func shortCaptionsTalkAboutTheMostSalientObject() {
        for t in SceneDataset.generateText(count: 100, seed: 8) {
            let top = t.description.objectsBySalience[0]
            let mentions = t.shortCaptions.filter { $0.lowercased().contains(top.shape.name) }
            #expect(mentions.count == 5, "\(t.key): \(t.shortCaptions)")
            for s in t.shortCaptions {
                #expect(s.first!.isUppercase && !s.hasSuffix("."))
            }
        }
    }

    @Test func wordingTableIsConsistent() {
        for e in WordingTable.entries {
            #expect(!e.train.isEmpty && !e.heldOut.isEmpty, "\(e.category) \(e.concept)")
            #expect(WordingTable.entry(e.category, e.concept) == e)
        }
        for c in SceneColor.allCases { #expect(WordingTable.entry(.color, c.name) != nil) }
        for t in BackgroundTone.allCases { #expect(WordingTable.entry(.backgroundTone, t.name) != nil) }
        for s in ShapeKind.allCases { #expect(WordingTable.entry(.shape, s.name) != nil) }
        for c in GridCell.all { #expect(WordingTable.entry(.position, c.name) != nil) }
        #expect(WordingTable.entry(.color, "red")?.heldOut.contains("crimson") == true)
        #expect(WordingTable.entry(.color, "blue")?.heldOut.contains("navy") == true)
        #expect(WordingTable.entry(.shape, "square")?.heldOut.contains("box") == true)
        #expect(WordingTable.entry(.relation, "left of")?.heldOut.contains("west of") == true)
    }
}
