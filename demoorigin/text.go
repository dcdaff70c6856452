package demoorigin

import "strings"

// vocab is the word list of text and json bodies, most common first, as
// wordAt draws the first words far more often than the last.
var vocab = strings.Fields(`
the of and to a in is it you that he was for on are with as his they be at
one have this from or had by hot word but what some we can out other were all
there when up use your how said an each she which do their time if will way
about many then them write would like so these her long make thing see him two
has look more day could go come did number sound no most people my over know
water than call first who may down side been now find any new work part take
get place made live where after back little only round man year came show
every good me give our under name very through just form sentence great think
say help low line differ turn cause much mean before move right boy old too
same tell does set three want air well also play small end put home read hand
port large spell add even land here must big high such follow act why ask men
change went light kind off need house picture try us again animal point mother
world near build self earth father head stand own page should country found
answer school grow study still learn plant cover food sun four between state
keep eye never last let thought city tree cross farm hard start might story
saw far sea draw left late run while press close night real life few north
open seem together next white children begin got walk example ease paper group
always music those both mark often letter until mile river car feet care second
book carry took science eat room friend began idea fish mountain stop once base
hear horse cut sure watch color face wood main enough plain girl usual young
ready above ever red list though feel talk bird soon body dog family direct
pose leave song measure door product black short numeral class wind question
happen complete ship area half rock order fire south problem piece told knew
pass since top whole king space heard best hour better true during hundred
five remember step early hold west ground interest reach fast verb sing listen
six table travel less morning ten simple several vowel toward war lay against
pattern slow center love person money serve appear road map rain rule govern
pull cold notice voice unit power town fine certain fly fall lead cry dark
machine note wait plan figure star box noun field rest correct able pound done
beauty drive stood contain front teach week final gave green quick develop
ocean warm free minute strong special mind behind clear tail produce fact
street inch multiply nothing course stay wheel full force blue object decide
surface deep moon island foot system busy test record boat common gold possible
plane stead dry wonder laugh thousand ago ran check game shape equate miss
brought heat snow tire bring yes distant fill east paint language among`)

// wordAt picks a word with x, a random 64-bit value, from a Zipf-like
// distribution: index i of n with density about 1/sqrt(i), so "the" is some
// 6% of the words, as in English.
func wordAt(x uint64) string {
	u := x >> 32
	return vocab[((u*u)>>32)*uint64(len(vocab))>>32]
}

// Shape of body=text.
const (
	lineWidth                  = 72    // lines wrap before this column
	minWords, maxWords         = 4, 18 // words in a sentence
	minSentences, maxSentences = 2, 7  // sentences in a paragraph
)

// textBody is body=text: sentences of vocab words, capitalised and
// punctuated, wrapped at lineWidth, in paragraphs separated by blank lines.
// It generates one sentence at a time.
type textBody struct {
	rng  splitmix
	out  pending
	col  int // column the next byte lands in
	left int // sentences left in the paragraph
}

func newTextBody(seed uint64) *textBody {
	g := &textBody{rng: splitmix{seed}}
	g.out.buf = make([]byte, 0, 256) // a sentence is at most maxWords*(longest word+2) bytes
	g.left = g.paragraphLen()
	return g
}

func (g *textBody) fill(p []byte) { g.out.fillFrom(p, g.appendSentence) }

// paragraphLen draws how many sentences the next paragraph has.
func (g *textBody) paragraphLen() int {
	return minSentences + int(g.rng.next()%(maxSentences-minSentences+1))
}

// appendSentence appends the next sentence to b, with the space, line break
// or paragraph break before it.
func (g *textBody) appendSentence(b []byte) []byte {
	if g.left == 0 {
		b = append(b, "\n\n"...)
		g.col = 0
		g.left = g.paragraphLen()
	}
	g.left--
	n := minWords + int(g.rng.next()%(maxWords-minWords+1))
	for i := range n {
		x := g.rng.next()
		w := wordAt(x)
		// The low bits, unused by wordAt, choose the punctuation.
		var punct string
		switch {
		case i == n-1 && x&0xf == 0:
			punct = "?"
		case i == n-1 && x&0xf == 1:
			punct = "!"
		case i == n-1:
			punct = "."
		case x&0xf < 2:
			punct = ","
		}
		b = g.appendWord(b, w, i == 0, punct)
	}
	return b
}

// appendWord appends word and its punctuation to b, breaking the line first
// when they would not fit in lineWidth.
func (g *textBody) appendWord(b []byte, word string, capital bool, punct string) []byte {
	n := len(word) + len(punct)
	if g.col > 0 {
		if g.col+1+n > lineWidth {
			b = append(b, '\n')
			g.col = 0
		} else {
			b = append(b, ' ')
			g.col++
		}
	}
	if capital {
		b = appendCapital(b, word)
	} else {
		b = append(b, word...)
	}
	b = append(b, punct...)
	g.col += n
	return b
}

// appendCapital appends word, a vocab word, with its first letter in upper case.
func appendCapital(b []byte, word string) []byte {
	b = append(b, word[0]-'a'+'A')
	return append(b, word[1:]...)
}
